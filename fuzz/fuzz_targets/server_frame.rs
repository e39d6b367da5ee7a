//! `decode_server_frame`, the browser app's compact decoder, on arbitrary text: never a
//! panic, and exactly the derived decoder's answer (the same frame, or a refusal).
#![no_main]

use chat_protocol::{ServerFrame, decode_server_frame};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|input: &[u8]| {
    let Ok(text) = std::str::from_utf8(input) else {
        return;
    };
    let compact = decode_server_frame(text).ok();
    let derived = serde_json::from_str::<ServerFrame>(text).ok();
    assert_eq!(compact, derived, "decoders disagree on {text:?}");
});
