//! Server frames as complete wire bytes (RFC 6455 §5.2): unmasked, never fragmented.
//!
//! Built once and shared (`Bytes`) by every recipient of a fan-out.

use crate::close::{CloseCode, truncate_reason};
use bytes::{BufMut, Bytes, BytesMut};

/// Opcodes (RFC 6455 §5.2).
pub mod opcode {
    pub const CONTINUATION: u8 = 0x0;
    pub const TEXT: u8 = 0x1;
    pub const BINARY: u8 = 0x2;
    pub const CLOSE: u8 = 0x8;
    pub const PING: u8 = 0x9;
    pub const PONG: u8 = 0xA;
}

/// The FIN bit of a frame's first byte.
pub const FIN: u8 = 0x80;
/// Control frames carry at most this much payload and are never fragmented.
pub const MAX_CONTROL_PAYLOAD: usize = 125;

/// A complete, unmasked frame with the shortest length encoding.
fn build(opcode: u8, payload: &[u8]) -> Bytes {
    let mut out = BytesMut::with_capacity(payload.len() + 10);
    out.put_u8(FIN | opcode);
    match payload.len() {
        len @ 0..=125 => out.put_u8(len as u8),
        len @ 126..=0xFFFF => {
            out.put_u8(126);
            out.put_u16(len as u16);
        }
        len => {
            out.put_u8(127);
            out.put_u64(len as u64);
        }
    }
    out.put_slice(payload);
    out.freeze()
}

/// A text frame. The caller guarantees `utf8` is UTF-8 (serialized JSON is).
pub fn text(utf8: &[u8]) -> Bytes {
    build(opcode::TEXT, utf8)
}

/// A binary frame (the echo server's; the chat sends none).
pub fn binary(payload: &[u8]) -> Bytes {
    build(opcode::BINARY, payload)
}

/// A ping with an empty payload.
pub fn ping() -> Bytes {
    Bytes::from_static(&[FIN | opcode::PING, 0])
}

/// The answer to a ping: the same payload back (at most 125 bytes, as the ping's).
pub fn pong(payload: &[u8]) -> Bytes {
    build(
        opcode::PONG,
        &payload[..payload.len().min(MAX_CONTROL_PAYLOAD)],
    )
}

/// A close frame with a status code and a reason, cut to fit a control frame.
pub fn close(code: CloseCode, reason: &str) -> Bytes {
    let reason = truncate_reason(reason);
    let mut payload = Vec::with_capacity(2 + reason.len());
    payload.extend_from_slice(&code.0.to_be_bytes());
    payload.extend_from_slice(reason.as_bytes());
    build(opcode::CLOSE, &payload)
}

/// A client frame as a browser sends it, masked with `mask`: `first` is the FIN bit, RSV
/// bits and opcode as they go on the wire (so tests and tools can send broken ones).
/// The length uses the minimal encoding.
pub fn masked(first: u8, payload: &[u8], mask: [u8; 4]) -> Vec<u8> {
    let len = payload.len();
    let mut out = Vec::with_capacity(len + 14);
    out.push(first);
    match len {
        0..=125 => out.push(0x80 | len as u8),
        126..=0xFFFF => {
            out.push(0x80 | 126);
            out.extend_from_slice(&(len as u16).to_be_bytes());
        }
        _ => {
            out.push(0x80 | 127);
            out.extend_from_slice(&(len as u64).to_be_bytes());
        }
    }
    out.extend_from_slice(&mask);
    out.extend(payload.iter().enumerate().map(|(i, b)| b ^ mask[i % 4]));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn server_frames_have_the_right_headers() {
        assert_eq!(&text(b"hi")[..], &[0x81, 2, b'h', b'i']);
        assert_eq!(&text(&[b'a'; 125])[..2], &[0x81, 125]);
        assert_eq!(&text(&[b'a'; 126])[..4], &[0x81, 126, 0, 126]);
        assert_eq!(&text(&[b'a'; 65_535])[..4], &[0x81, 126, 0xFF, 0xFF]);
        assert_eq!(
            &text(&[b'a'; 65_536])[..10],
            &[0x81, 127, 0, 0, 0, 0, 0, 1, 0, 0]
        );
        assert_eq!(&binary(b"\x00")[..], &[0x82, 1, 0]);
        assert_eq!(&ping()[..], &[0x89, 0]);
        assert_eq!(&pong(b"x")[..], &[0x8A, 1, b'x']);
        assert_eq!(
            &close(CloseCode::TRY_AGAIN_LATER, "slow")[..],
            &[0x88, 6, 0x03, 0xF5, b's', b'l', b'o', b'w']
        );
    }

    #[test]
    fn a_long_close_reason_still_fits_a_control_frame() {
        let frame = close(CloseCode::NORMAL, &"ü".repeat(200));
        assert_eq!(frame[1] as usize, frame.len() - 2);
        assert!(frame.len() - 2 <= MAX_CONTROL_PAYLOAD);
        assert!(std::str::from_utf8(&frame[4..]).is_ok());
    }
}
