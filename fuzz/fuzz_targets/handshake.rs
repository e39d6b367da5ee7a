//! The handshake checks on arbitrary requests: never a panic, and an accepted request
//! always carries exactly one key of 16 base64-encoded bytes and gets a 28-character
//! accept value.
#![no_main]

use chat_wire::handshake;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|input: &[u8]| {
    let text = String::from_utf8_lossy(input);
    let mut lines = text.split("\r\n");
    let first = lines.next().unwrap_or("");
    let mut parts = first.split(' ');
    let method = http::Method::from_bytes(parts.next().unwrap_or("").as_bytes())
        .unwrap_or(http::Method::GET);
    let version = match parts.nth(1) {
        Some("HTTP/1.1") => http::Version::HTTP_11,
        Some("HTTP/1.0") => http::Version::HTTP_10,
        _ => http::Version::HTTP_2,
    };
    let mut headers = http::HeaderMap::new();
    for line in lines {
        let Some((name, value)) = line.split_once(':') else {
            continue;
        };
        let (Ok(name), Ok(value)) = (
            http::HeaderName::from_bytes(name.trim().as_bytes()),
            http::HeaderValue::from_str(value.trim()),
        ) else {
            continue;
        };
        headers.append(name, value);
    }
    match handshake::accept(&method, version, &headers) {
        Ok(accept) => {
            assert_eq!(accept.len(), 28);
            assert_eq!(method, http::Method::GET);
            assert_eq!(version, http::Version::HTTP_11);
            assert_eq!(headers.get_all(http::header::SEC_WEBSOCKET_KEY).iter().count(), 1);
        }
        Err(refusal) => {
            assert!(!refusal.message().is_empty());
            assert!(refusal.status().is_client_error());
        }
    }
});
