//! The WebSocket layer byte by byte, the way an unusual client could send it: the
//! handshake, split and fragmented frames, and framing errors with their close codes.
#![allow(clippy::unwrap_used)]

mod common;

use common::{Backend, TestServer, http_get};
use std::net::SocketAddr;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const WAIT: Duration = Duration::from_secs(10);

/// Opens `/ws` by hand and checks the server's answer to the RFC's example key.
async fn handshake(addr: SocketAddr) -> TcpStream {
    let mut stream = TcpStream::connect(addr).await.unwrap();
    let request = format!(
        "GET /ws?name=Ada HTTP/1.1\r\nHost: {addr}\r\nUpgrade: websocket\r\n\
         Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\
         Sec-WebSocket-Version: 13\r\n\r\n"
    );
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut response = Vec::new();
    while !response.ends_with(b"\r\n\r\n") {
        let mut byte = [0];
        stream.read_exact(&mut byte).await.unwrap();
        response.push(byte[0]);
    }
    let response = String::from_utf8(response).unwrap().to_lowercase();
    assert!(response.starts_with("http/1.1 101"), "{response}");
    assert!(
        response.contains("sec-websocket-accept: s3pplmbitxaq9kygzzhzrbk+xoo="),
        "{response}"
    );
    let (opcode, welcome) = read_frame(&mut stream).await;
    assert_eq!(opcode, 0x1);
    assert!(welcome.starts_with(br#"{"type":"welcome""#));
    stream
}

/// A masked client frame; `first` is the FIN bit and opcode byte.
fn masked(first: u8, payload: &[u8]) -> Vec<u8> {
    let len = payload.len();
    let field = if len < 126 {
        vec![0x80 | len as u8]
    } else if len <= 0xFFFF {
        let mut field = vec![0x80 | 126];
        field.extend_from_slice(&(len as u16).to_be_bytes());
        field
    } else {
        let mut field = vec![0x80 | 127];
        field.extend_from_slice(&(len as u64).to_be_bytes());
        field
    };
    with_length_field(first, &field, payload)
}

/// A masked frame whose length field is written as given, however wrong.
fn with_length_field(first: u8, field: &[u8], payload: &[u8]) -> Vec<u8> {
    let mask = [7, 1, 9, 3];
    let mut out = vec![first];
    out.extend_from_slice(field);
    out.extend_from_slice(&mask);
    out.extend(payload.iter().enumerate().map(|(i, b)| b ^ mask[i % 4]));
    out
}

/// Reads one server frame: its opcode and payload. Server frames are never masked.
async fn read_frame(stream: &mut TcpStream) -> (u8, Vec<u8>) {
    tokio::time::timeout(WAIT, async {
        let mut head = [0; 2];
        stream.read_exact(&mut head).await.unwrap();
        assert_eq!(head[1] & 0x80, 0, "server frames are unmasked");
        let len = match head[1] & 0x7F {
            126 => usize::from(stream.read_u16().await.unwrap()),
            127 => usize::try_from(stream.read_u64().await.unwrap()).unwrap(),
            len => usize::from(len),
        };
        let mut payload = vec![0; len];
        stream.read_exact(&mut payload).await.unwrap();
        (head[0] & 0x0F, payload)
    })
    .await
    .expect("a frame in time")
}

/// Reads frames until a close frame and returns its code; then the server hangs up.
async fn close_code(stream: &mut TcpStream) -> u16 {
    loop {
        let (opcode, payload) = read_frame(stream).await;
        if opcode == 0x8 {
            let mut rest = Vec::new();
            tokio::time::timeout(WAIT, stream.read_to_end(&mut rest))
                .await
                .expect("the server closes the connection")
                .unwrap();
            return u16::from_be_bytes([payload[0], payload[1]]);
        }
    }
}

#[tokio::test]
async fn a_frame_written_a_byte_at_a_time_is_one_message() {
    let backend = Backend::sqlite();
    let server = TestServer::start(&backend).await;
    let mut ada = handshake(server.addr).await;
    for byte in masked(0x81, br#"{"type":"ping"}"#) {
        ada.write_all(&[byte]).await.unwrap();
        ada.flush().await.unwrap();
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    assert_eq!(
        read_frame(&mut ada).await,
        (0x1, br#"{"type":"pong"}"#.to_vec())
    );
}

#[tokio::test]
async fn fragments_with_a_ping_between_are_reassembled() {
    let backend = Backend::sqlite();
    let server = TestServer::start(&backend).await;
    let mut ada = handshake(server.addr).await;
    let mut wire = masked(0x01, br#"{"type""#);
    wire.extend(masked(0x89, b"hey"));
    wire.extend(masked(0x80, br#":"ping"}"#));
    ada.write_all(&wire).await.unwrap();
    assert_eq!(
        read_frame(&mut ada).await,
        (0xA, b"hey".to_vec()),
        "pong first"
    );
    assert_eq!(
        read_frame(&mut ada).await,
        (0x1, br#"{"type":"pong"}"#.to_vec())
    );
}

#[tokio::test]
async fn a_client_close_is_answered_with_1000() {
    let backend = Backend::sqlite();
    let server = TestServer::start(&backend).await;
    let mut ada = handshake(server.addr).await;
    ada.write_all(&masked(0x88, &1000u16.to_be_bytes()))
        .await
        .unwrap();
    assert_eq!(close_code(&mut ada).await, 1000);
}

/// RFC 6455 §5.5.1 and §7.4 against the real server: a valid close is answered with
/// its own code, an invalid one with 1002, a reason that is not UTF-8 with 1007.
#[tokio::test]
async fn close_frames_are_validated_and_echoed() {
    let backend = Backend::sqlite();
    let server = TestServer::start(&backend).await;
    let code = |c: u16| c.to_be_bytes().to_vec();
    let mut with_reason = code(1000);
    with_reason.extend_from_slice(&[0xFF, 0xFE]);
    let cases: Vec<(&str, Vec<u8>, u16)> = vec![
        ("empty", vec![], 1000),
        ("1001", code(1001), 1001),
        ("3000", code(3000), 3000),
        (
            "4999 with a reason",
            [code(4999), b"bye".to_vec()].concat(),
            4999,
        ),
        ("one byte", vec![0x03], 1002),
        ("999", code(999), 1002),
        ("1005", code(1005), 1002),
        ("1006", code(1006), 1002),
        ("1015", code(1015), 1002),
        ("2999", code(2999), 1002),
        ("5000", code(5000), 1002),
        ("65535", code(65535), 1002),
        ("reason not UTF-8", with_reason, 1007),
    ];
    for (case, payload, expected) in cases {
        let mut ada = handshake(server.addr).await;
        ada.write_all(&masked(0x88, &payload)).await.unwrap();
        assert_eq!(close_code(&mut ada).await, expected, "close {case}");
    }
}

#[tokio::test]
async fn lengths_must_be_minimal_and_below_2_pow_63() {
    let backend = Backend::sqlite();
    let server = TestServer::start(&backend).await;
    let ping = br#"{"type":"ping"}"#;
    let mut long_ping = vec![b' '; 200];
    long_ping[..ping.len()].copy_from_slice(ping);
    let cases: Vec<(&str, Vec<u8>)> = vec![
        (
            "16-bit length for 15 bytes",
            with_length_field(0x81, &[0x80 | 126, 0, 15], ping),
        ),
        (
            "64-bit length for 200 bytes",
            with_length_field(0x81, &[0x80 | 127, 0, 0, 0, 0, 0, 0, 0, 200], &long_ping),
        ),
        (
            "64-bit length with the top bit set",
            with_length_field(0x81, &[0x80 | 127, 0x80, 0, 0, 0, 0, 0, 0, 0], b""),
        ),
    ];
    for (case, wire) in cases {
        let mut ada = handshake(server.addr).await;
        ada.write_all(&wire).await.unwrap();
        assert_eq!(close_code(&mut ada).await, 1002, "{case}");
    }
}

#[tokio::test]
async fn a_ping_inside_a_full_size_message_does_not_count_against_its_limit() {
    let backend = Backend::sqlite();
    let server = TestServer::start(&backend).await;
    let mut ada = handshake(server.addr).await;
    let envelope = br#"{"type":"ping","pad":""}"#.len();
    let text = format!(
        r#"{{"type":"ping","pad":"{}"}}"#,
        "x".repeat(65_500 - envelope)
    );
    let (head, tail) = text.as_bytes().split_at(40_000);
    let mut wire = masked(0x01, head);
    wire.extend(masked(0x89, &[b'p'; 40]));
    wire.extend(masked(0x80, tail));
    ada.write_all(&wire).await.unwrap();
    assert_eq!(
        read_frame(&mut ada).await,
        (0xA, vec![b'p'; 40]),
        "pong first"
    );
    assert_eq!(
        read_frame(&mut ada).await,
        (0x1, br#"{"type":"pong"}"#.to_vec())
    );
}

#[tokio::test]
async fn a_ping_flood_meets_the_rate_limit() {
    let backend = Backend::sqlite();
    let server = TestServer::with(&backend, |c| {
        c.rate_per_sec = 20;
        c.rate_burst = 50;
    })
    .await;
    let mut ada = handshake(server.addr).await;
    let mut wire = Vec::new();
    for _ in 0..2000 {
        wire.extend(masked(0x89, b"x"));
    }
    // A text frame last: its answer tells when every ping has been handled.
    wire.extend(masked(0x81, br#"{"type":"ping"}"#));
    ada.write_all(&wire).await.unwrap();
    let mut pongs = 0;
    loop {
        let (opcode, payload) = read_frame(&mut ada).await;
        match opcode {
            0xA => pongs += 1,
            0x1 => {
                let text = String::from_utf8(payload).unwrap();
                assert!(text.contains("rate_limited"), "{text}");
                break;
            }
            other => panic!("opcode {other}"),
        }
    }
    assert!(
        (50..100).contains(&pongs),
        "{pongs} of 2000 pings answered: the burst, and no more than what the rate refilled"
    );
}

#[tokio::test]
async fn an_unmasked_frame_closes_with_1002() {
    let backend = Backend::sqlite();
    let server = TestServer::start(&backend).await;
    let mut ada = handshake(server.addr).await;
    ada.write_all(b"\x81\x0f{\"type\":\"ping\"}").await.unwrap();
    assert_eq!(close_code(&mut ada).await, 1002);
}

#[tokio::test]
async fn text_that_is_not_utf8_closes_with_1007() {
    let backend = Backend::sqlite();
    let server = TestServer::start(&backend).await;
    let mut ada = handshake(server.addr).await;
    ada.write_all(&masked(0x81, &[0x22, 0xC3, 0x28, 0x22]))
        .await
        .unwrap();
    assert_eq!(close_code(&mut ada).await, 1007);
}

#[tokio::test]
async fn plain_http_to_the_socket_endpoint_gets_426() {
    let backend = Backend::sqlite();
    let server = TestServer::start(&backend).await;
    let (status, body) = http_get(server.addr, "/ws?name=Ada", &[]).await;
    assert_eq!(status, 426, "{body}");
}
