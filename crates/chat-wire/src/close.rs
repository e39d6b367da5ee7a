//! Close codes (RFC 6455 §7.4) and the close frame's payload (§5.5.1).

use std::fmt;

/// A WebSocket close status code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct CloseCode(pub u16);

impl CloseCode {
    /// The purpose of the connection is fulfilled.
    pub const NORMAL: CloseCode = CloseCode(1000);
    /// The server is going away (shutdown) or gave up on a silent peer.
    pub const GOING_AWAY: CloseCode = CloseCode(1001);
    /// The peer broke the framing rules.
    pub const PROTOCOL: CloseCode = CloseCode(1002);
    /// The peer sent a kind of data the endpoint does not accept (binary, for the chat).
    pub const UNSUPPORTED: CloseCode = CloseCode(1003);
    /// A text message (or close reason) that is not UTF-8.
    pub const INVALID_PAYLOAD: CloseCode = CloseCode(1007);
    /// A message that breaks the endpoint's policy.
    pub const POLICY: CloseCode = CloseCode(1008);
    /// A message over the endpoint's size limit.
    pub const TOO_BIG: CloseCode = CloseCode(1009);
    /// The endpoint failed.
    pub const INTERNAL: CloseCode = CloseCode(1011);
    /// Try again later: the chat uses it for a client too slow to keep up.
    pub const TRY_AGAIN_LATER: CloseCode = CloseCode(1013);

    /// Whether a peer may send this code in a close frame. 1005, 1006 and 1015 are only
    /// ever reported locally, 1004 and 1016-2999 are reserved, 3000-4999 belong to
    /// libraries and applications, and everything else is out of range.
    pub fn is_sendable(self) -> bool {
        matches!(self.0, 1000..=1003 | 1007..=1014 | 3000..=4999)
    }
}

impl fmt::Display for CloseCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// A close frame's status code and reason, when its payload has them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CloseFrame {
    pub code: CloseCode,
    pub reason: String,
}

/// Longest close reason in bytes: a control frame carries 125 bytes, two are the code.
pub const MAX_REASON_BYTES: usize = 123;

/// What is wrong with a received close payload.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BadClose {
    /// One byte: too short for a code, too long for none (1002).
    Truncated,
    /// A code no peer may send (1002).
    InvalidCode(u16),
    /// A reason that is not UTF-8 (1007).
    ReasonNotUtf8,
}

/// Parses a received close payload: empty (no code), or a code and a UTF-8 reason.
pub fn parse(payload: &[u8]) -> Result<Option<CloseFrame>, BadClose> {
    match payload {
        [] => Ok(None),
        [_] => Err(BadClose::Truncated),
        [high, low, reason @ ..] => {
            let code = CloseCode(u16::from_be_bytes([*high, *low]));
            if !code.is_sendable() {
                return Err(BadClose::InvalidCode(code.0));
            }
            let reason = std::str::from_utf8(reason).map_err(|_| BadClose::ReasonNotUtf8)?;
            Ok(Some(CloseFrame {
                code,
                reason: reason.to_owned(),
            }))
        }
    }
}

/// `reason` cut to at most [`MAX_REASON_BYTES`], at a character boundary so that it stays
/// UTF-8.
pub fn truncate_reason(reason: &str) -> &str {
    if reason.len() <= MAX_REASON_BYTES {
        return reason;
    }
    let mut end = MAX_REASON_BYTES;
    while !reason.is_char_boundary(end) {
        end -= 1;
    }
    &reason[..end]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_a_peer_may_send() {
        let valid = [
            1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 1012, 1013, 1014, 3000, 3999,
            4000, 4999,
        ];
        let invalid = [
            0, 999, 1004, 1005, 1006, 1015, 1016, 1100, 2000, 2999, 5000, 65535,
        ];
        for code in valid {
            assert!(CloseCode(code).is_sendable(), "{code}");
        }
        for code in invalid {
            assert!(!CloseCode(code).is_sendable(), "{code}");
        }
    }

    #[test]
    fn payloads() {
        assert_eq!(parse(b""), Ok(None));
        assert_eq!(parse(b"\x03"), Err(BadClose::Truncated));
        assert_eq!(
            parse(b"\x03\xe8bye"),
            Ok(Some(CloseFrame {
                code: CloseCode::NORMAL,
                reason: "bye".into()
            }))
        );
        assert_eq!(parse(b"\x03\xed"), Err(BadClose::InvalidCode(1005)));
        assert_eq!(parse(b"\x03\xe8\xff"), Err(BadClose::ReasonNotUtf8));
    }

    #[test]
    fn reasons_are_cut_on_a_char_boundary() {
        let long = "é".repeat(100);
        let cut = truncate_reason(&long);
        assert_eq!(cut.len(), 122);
        assert!(cut.chars().all(|c| c == 'é'));
        assert_eq!(truncate_reason("short"), "short");
    }
}
