//! The two small server-frame decoders on arbitrary text: `decode_server_frame` (one
//! pass over raw fields) must give exactly the derived decoder's answer, and
//! `frame_from_json` (the browser app's, over parsed JSON) must never panic and must
//! read every frame the derived decoder reads as the same frame, as long as its numbers
//! are ones a JavaScript number holds exactly (up to 2^53; the browser's `JSON.parse`
//! has no others). It may read a little more: `JSON.parse` cannot tell `1.0` from `1`.
#![no_main]

use chat_protocol::{ServerFrame, decode_server_frame, frame_from_json};
use libfuzzer_sys::fuzz_target;

/// Whether every number in the value is an integer of at most 2^53 in magnitude.
fn exact_in_javascript(value: &serde_json::Value) -> bool {
    const MAX: u64 = 1 << 53;
    match value {
        serde_json::Value::Number(n) => n
            .as_u64()
            .map(|u| u <= MAX)
            .or_else(|| n.as_i64().map(|i| i.unsigned_abs() <= MAX))
            .unwrap_or(true),
        serde_json::Value::Array(items) => items.iter().all(exact_in_javascript),
        serde_json::Value::Object(fields) => fields.values().all(exact_in_javascript),
        _ => true,
    }
}

fuzz_target!(|input: &[u8]| {
    let Ok(text) = std::str::from_utf8(input) else {
        return;
    };
    let raw = decode_server_frame(text).ok();
    let derived = serde_json::from_str::<ServerFrame>(text).ok();
    assert_eq!(raw, derived, "decoders disagree on {text:?}");
    if let Ok(value) = serde_json::from_str::<serde_json::Value>(text) {
        let compact = frame_from_json(&value);
        if let Some(frame) = derived.filter(|_| exact_in_javascript(&value)) {
            assert_eq!(compact, Some(frame), "the compact decoder misreads {text:?}");
        }
    }
});
