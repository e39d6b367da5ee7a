//! `decode_client_frame` on arbitrary text: never a panic; what it accepts the derived
//! decoder accepts as the same frame, what the derived decoder refuses it refuses too, and
//! an accepted frame survives a round trip through JSON. `ClientFrame::to_json` (the
//! browser app's writer, no serde) writes exactly what `serde_json` writes.
#![no_main]

use chat_protocol::{ClientFrame, decode_client_frame};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|input: &[u8]| {
    let Ok(text) = std::str::from_utf8(input) else {
        return;
    };
    let ours = decode_client_frame(text);
    let derived = serde_json::from_str::<ClientFrame>(text);
    match (&ours, &derived) {
        (Ok(frame), Ok(same)) => {
            assert_eq!(frame, same);
            let again = serde_json::to_string(frame).expect("frames serialize");
            assert_eq!(decode_client_frame(&again).as_ref().ok(), Some(frame));
            assert_eq!(frame.to_json(), again, "the compact writer differs");
        }
        (Ok(frame), Err(err)) => panic!("accepted {frame:?}, which the derived decoder refuses: {err}"),
        (Err(refusal), _) => assert!(!refusal.message.is_empty()),
    }
});
