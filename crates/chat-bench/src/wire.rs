//! The few protocol facts the load generator needs, read without parsing whole frames:
//! at 100 000+ deliveries per second on one core, a full JSON decode per frame would make
//! the load generator, not the server, the bottleneck.

use chat_protocol::ClientFrame;

/// The text of a benchmark message: when it was sent, by which publisher, its number.
/// Padding (`.`) follows to reach the requested size.
pub fn probe_text(sent_us: u64, publisher: u32, n: u64, len: usize) -> String {
    let mut text = format!("{sent_us}:{publisher}:{n}:");
    while text.len() < len {
        text.push('.');
    }
    text
}

/// A `send` frame, serialized.
pub fn send_frame(room: &str, text: String) -> String {
    serde_json::to_string(&ClientFrame::Send {
        room: room.to_owned(),
        text,
        client_ref: None,
    })
    .unwrap_or_default()
}

/// A `join` frame, serialized.
pub fn join_frame(room: &str) -> String {
    serde_json::to_string(&ClientFrame::Join {
        room: room.to_owned(),
        since: None,
    })
    .unwrap_or_default()
}

/// (sent_us, publisher, n) of a `message` frame carrying a probe, or `None` for any other
/// frame. Relies on the server writing `"type"` first and `"text"` as a plain string,
/// which the probe text (digits, `:` and `.`) never needs escaping for.
pub fn probe_of(frame: &str) -> Option<(u64, u32, u64)> {
    if !frame.starts_with(r#"{"type":"message""#) {
        return None;
    }
    let start = frame.find(r#""text":""#)? + 8;
    let mut parts = frame[start..].splitn(4, ':');
    let sent_us = parts.next()?.parse().ok()?;
    let publisher = parts.next()?.parse().ok()?;
    let n = parts.next()?.parse().ok()?;
    Some((sent_us, publisher, n))
}

/// Whether a frame is `joined`.
pub fn is_joined(frame: &str) -> bool {
    frame.starts_with(r#"{"type":"joined""#)
}

#[cfg(test)]
mod tests {
    use super::*;
    use chat_protocol::{Message, ServerFrame, User};

    #[test]
    fn a_probe_survives_the_servers_encoding() {
        let text = probe_text(123_456, 7, 42, 100);
        assert_eq!(text.len(), 100);
        let frame = ServerFrame::Message {
            message: Message {
                room: "r".into(),
                seq: 1,
                id: "01J".into(),
                from: User {
                    id: "u".into(),
                    name: "n".into(),
                },
                text,
                ts: 1,
            },
            client_ref: None,
        };
        let json = serde_json::to_string(&frame).unwrap_or_default();
        assert_eq!(probe_of(&json), Some((123_456, 7, 42)));
        assert_eq!(probe_of(r#"{"type":"pong"}"#), None);
        assert!(is_joined(r#"{"type":"joined","room":"r"}"#));
    }
}
