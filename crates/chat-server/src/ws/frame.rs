//! WebSocket framing (RFC 6455 §5), server side: what a chat server needs and nothing more.
//!
//! Why not a WebSocket library's socket type: the fan-out writes a frame straight into an
//! idle connection's socket from the task that delivers it, with no queue and no task
//! wake-up in between, and an idle connection keeps no buffers at all. Both need the
//! frame bytes and the socket in our hands. Outgoing frames are therefore built once per
//! fan-out as complete wire bytes ([`text`]); incoming bytes go through [`FrameReader`],
//! which buffers only what a partial frame needs.

use bytes::{BufMut, Bytes, BytesMut};

/// Opcodes (RFC 6455 §5.2).
const CONTINUATION: u8 = 0x0;
const TEXT: u8 = 0x1;
const BINARY: u8 = 0x2;
const CLOSE: u8 = 0x8;
const PING: u8 = 0x9;
const PONG: u8 = 0xA;
const FIN: u8 = 0x80;
/// Control frames carry at most this much payload and are never fragmented.
const MAX_CONTROL_PAYLOAD: usize = 125;
/// Read buffers above this are released once empty, so a burst leaves nothing behind.
const RETAINED_BUFFER_BYTES: usize = 1024;

/// A complete, unmasked server frame carrying `payload` (a text frame unless said).
fn frame(opcode: u8, payload: &[u8]) -> Bytes {
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

/// A text frame: `json` is UTF-8 by construction.
pub fn text(json: &[u8]) -> Bytes {
    frame(TEXT, json)
}

/// A ping with an empty payload.
pub fn ping() -> Bytes {
    Bytes::from_static(&[FIN | PING, 0])
}

/// The answer to a ping: the same payload back.
pub fn pong(payload: &[u8]) -> Bytes {
    frame(PONG, payload)
}

/// A close frame with a status code and a short reason.
pub fn close(code: u16, reason: &str) -> Bytes {
    let mut payload = Vec::with_capacity(2 + reason.len());
    payload.extend_from_slice(&code.to_be_bytes());
    payload.extend_from_slice(reason.as_bytes());
    payload.truncate(MAX_CONTROL_PAYLOAD);
    frame(CLOSE, &payload)
}

/// What a client sent, one complete message at a time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Incoming {
    Text(String),
    Ping(Vec<u8>),
    Pong,
    /// The client is closing; the connection ends after our close frame.
    Close,
}

/// Why the client's bytes cannot go on; each maps to a close code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FrameError {
    /// A binary message (1003): the protocol is JSON text only.
    Binary,
    /// A message over the size limit (1009).
    TooBig,
    /// Text that is not UTF-8 (1007).
    NotUtf8,
    /// Not a valid client frame: unmasked, reserved bits or opcodes, a bad fragment (1002).
    Protocol,
}

/// Turns the client's byte stream into messages. Holds a partial frame (and a message
/// being reassembled from fragments) between reads; empty, it holds no memory.
#[derive(Debug)]
pub struct FrameReader {
    buf: Vec<u8>,
    /// Text fragments received so far, when a fragmented message is in progress.
    partial: Option<Vec<u8>>,
    max_message: usize,
}

/// One parsed frame header: where the payload is and how to unmask it.
struct Header {
    fin: bool,
    opcode: u8,
    mask: [u8; 4],
    start: usize,
    len: usize,
}

impl FrameReader {
    pub fn new(max_message: usize) -> Self {
        FrameReader {
            buf: Vec::new(),
            partial: None,
            max_message,
        }
    }

    /// Adds bytes read from the socket.
    pub fn extend(&mut self, bytes: &[u8]) {
        self.buf.extend_from_slice(bytes);
    }

    /// The next complete message, `None` when more bytes are needed.
    pub fn next_message(&mut self) -> Result<Option<Incoming>, FrameError> {
        loop {
            let Some(header) = self.header()? else {
                self.release_if_empty();
                return Ok(None);
            };
            let end = header.start + header.len;
            if self.buf.len() < end {
                return Ok(None);
            }
            let mut payload: Vec<u8> = self.buf[header.start..end].to_vec();
            self.buf.drain(..end);
            for (i, byte) in payload.iter_mut().enumerate() {
                *byte ^= header.mask[i % 4];
            }
            if let Some(message) = self.accept(&header, payload)? {
                self.release_if_empty();
                return Ok(Some(message));
            }
        }
    }

    /// Parses the header at the front of the buffer, if it is all there.
    fn header(&self) -> Result<Option<Header>, FrameError> {
        let buf = &self.buf;
        if buf.len() < 2 {
            return Ok(None);
        }
        let (first, second) = (buf[0], buf[1]);
        if first & 0x70 != 0 || second & 0x80 == 0 {
            // Reserved bits without an extension, or an unmasked client frame.
            return Err(FrameError::Protocol);
        }
        let (len, mut at) = match second & 0x7F {
            126 => match buf.get(2..4) {
                Some(b) => (u64::from(u16::from_be_bytes([b[0], b[1]])), 4),
                None => return Ok(None),
            },
            127 => match buf.get(2..10) {
                Some(b) => {
                    let mut be = [0; 8];
                    be.copy_from_slice(b);
                    (u64::from_be_bytes(be), 10)
                }
                None => return Ok(None),
            },
            short => (u64::from(short), 2),
        };
        let opcode = first & 0x0F;
        let fin = first & FIN != 0;
        if opcode >= CLOSE && (!fin || len > MAX_CONTROL_PAYLOAD as u64) {
            return Err(FrameError::Protocol);
        }
        let so_far = self.partial.as_ref().map_or(0, Vec::len) as u64;
        if so_far.saturating_add(len) > self.max_message as u64 {
            return Err(FrameError::TooBig);
        }
        let Some(mask) = buf.get(at..at + 4) else {
            return Ok(None);
        };
        let mask = [mask[0], mask[1], mask[2], mask[3]];
        at += 4;
        Ok(Some(Header {
            fin,
            opcode,
            mask,
            start: at,
            // Bounded by max_message just above, so it fits.
            len: usize::try_from(len).map_err(|_| FrameError::TooBig)?,
        }))
    }

    /// Handles one unmasked frame: a whole message, a fragment, or a control frame.
    fn accept(
        &mut self,
        header: &Header,
        payload: Vec<u8>,
    ) -> Result<Option<Incoming>, FrameError> {
        match header.opcode {
            TEXT if self.partial.is_none() => {
                if header.fin {
                    return text_message(payload).map(Some);
                }
                self.partial = Some(payload);
                Ok(None)
            }
            CONTINUATION => {
                let Some(partial) = self.partial.as_mut() else {
                    return Err(FrameError::Protocol);
                };
                partial.extend_from_slice(&payload);
                if !header.fin {
                    return Ok(None);
                }
                let whole = self.partial.take().unwrap_or_default();
                text_message(whole).map(Some)
            }
            BINARY => Err(FrameError::Binary),
            CLOSE => Ok(Some(Incoming::Close)),
            PING => Ok(Some(Incoming::Ping(payload))),
            PONG => Ok(Some(Incoming::Pong)),
            // A new text frame inside a fragmented message, or an unknown opcode.
            _ => Err(FrameError::Protocol),
        }
    }

    fn release_if_empty(&mut self) {
        if self.buf.is_empty() && self.buf.capacity() > RETAINED_BUFFER_BYTES {
            self.buf = Vec::new();
        }
    }
}

fn text_message(payload: Vec<u8>) -> Result<Incoming, FrameError> {
    String::from_utf8(payload)
        .map(Incoming::Text)
        .map_err(|_| FrameError::NotUtf8)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A client frame as a browser would send it.
    fn client_frame(first: u8, payload: &[u8]) -> Vec<u8> {
        let mask = [0x12, 0x34, 0x56, 0x78];
        let mut out = vec![first];
        match payload.len() {
            len @ 0..=125 => out.push(0x80 | len as u8),
            len @ 126..=0xFFFF => {
                out.push(0x80 | 126);
                out.extend_from_slice(&(len as u16).to_be_bytes());
            }
            len => {
                out.push(0x80 | 127);
                out.extend_from_slice(&(len as u64).to_be_bytes());
            }
        }
        out.extend_from_slice(&mask);
        out.extend(payload.iter().enumerate().map(|(i, b)| b ^ mask[i % 4]));
        out
    }

    fn read_all(bytes: &[u8]) -> Vec<Result<Incoming, FrameError>> {
        let mut reader = FrameReader::new(64 * 1024);
        reader.extend(bytes);
        let mut out = Vec::new();
        loop {
            match reader.next_message() {
                Ok(Some(message)) => out.push(Ok(message)),
                Ok(None) => return out,
                Err(err) => {
                    out.push(Err(err));
                    return out;
                }
            }
        }
    }

    #[test]
    fn text_frames_of_every_length_form_decode() {
        for len in [0, 5, 125, 126, 300, 65_535, 65_536] {
            let text = "x".repeat(len);
            let got = read_all(&client_frame(0x81, text.as_bytes()));
            assert_eq!(got, vec![Ok(Incoming::Text(text))], "length {len}");
        }
    }

    #[test]
    fn bytes_arriving_one_at_a_time_make_the_same_messages() {
        let mut wire = client_frame(0x81, "héllo".as_bytes());
        wire.extend(client_frame(0x89, b"p"));
        wire.extend(client_frame(0x81, &[b'a'; 300]));
        let mut reader = FrameReader::new(1024);
        let mut got = Vec::new();
        for byte in wire {
            reader.extend(&[byte]);
            while let Some(message) = reader.next_message().expect("valid") {
                got.push(message);
            }
        }
        assert_eq!(
            got,
            vec![
                Incoming::Text("héllo".into()),
                Incoming::Ping(b"p".to_vec()),
                Incoming::Text("a".repeat(300)),
            ]
        );
    }

    #[test]
    fn fragments_are_reassembled_with_control_frames_between() {
        let mut wire = client_frame(0x01, b"hel");
        wire.extend(client_frame(0x89, b""));
        wire.extend(client_frame(0x00, b"lo"));
        wire.extend(client_frame(0x80, b"!"));
        assert_eq!(
            read_all(&wire),
            vec![
                Ok(Incoming::Ping(Vec::new())),
                Ok(Incoming::Text("hello!".into()))
            ]
        );
    }

    #[test]
    fn bad_input_maps_to_its_close_reason() {
        let unmasked = vec![0x81, 0x02, b'h', b'i'];
        assert_eq!(read_all(&unmasked), vec![Err(FrameError::Protocol)]);
        assert_eq!(
            read_all(&client_frame(0x82, b"\x00")),
            vec![Err(FrameError::Binary)]
        );
        assert_eq!(
            read_all(&client_frame(0x81, &[0xFF, 0xFE])),
            vec![Err(FrameError::NotUtf8)]
        );
        assert_eq!(
            read_all(&client_frame(0xC1, b"x")),
            vec![Err(FrameError::Protocol)]
        );
        assert_eq!(
            read_all(&client_frame(0x80, b"x")),
            vec![Err(FrameError::Protocol)]
        );
        assert_eq!(
            read_all(&client_frame(0x83, b"x")),
            vec![Err(FrameError::Protocol)]
        );
        assert_eq!(
            read_all(&client_frame(0x09, b"x")),
            vec![Err(FrameError::Protocol)]
        );
        assert_eq!(
            read_all(&client_frame(0x89, &[0; 126])),
            vec![Err(FrameError::Protocol)]
        );
    }

    #[test]
    fn a_message_over_the_limit_is_refused_from_its_header() {
        let mut reader = FrameReader::new(100);
        // Only the header of a 1 MB frame: refused before any payload arrives.
        reader.extend(&[0x81, 0x80 | 127, 0, 0, 0, 0, 0, 0x10, 0, 0]);
        assert_eq!(reader.next_message(), Err(FrameError::TooBig));
        let mut reader = FrameReader::new(100);
        reader.extend(&client_frame(0x01, &[b'a'; 60]));
        reader.extend(&client_frame(0x80, &[b'a'; 60]));
        assert_eq!(reader.next_message(), Err(FrameError::TooBig));
    }

    #[test]
    fn server_frames_have_the_right_headers() {
        assert_eq!(&text(b"hi")[..], &[0x81, 2, b'h', b'i']);
        assert_eq!(&text(&[b'a'; 200])[..4], &[0x81, 126, 0, 200]);
        assert_eq!(
            &text(&[b'a'; 70_000])[..10],
            &[0x81, 127, 0, 0, 0, 0, 0, 1, 0x11, 0x70]
        );
        assert_eq!(&ping()[..], &[0x89, 0]);
        assert_eq!(&pong(b"x")[..], &[0x8A, 1, b'x']);
        assert_eq!(
            &close(1013, "slow")[..],
            &[0x88, 6, 0x03, 0xF5, b's', b'l', b'o', b'w']
        );
    }

    #[test]
    fn an_idle_reader_holds_no_buffer() {
        let mut reader = FrameReader::new(64 * 1024);
        reader.extend(&client_frame(0x81, &[b'a'; 4000]));
        assert!(matches!(reader.next_message(), Ok(Some(Incoming::Text(_)))));
        assert_eq!(reader.buf.capacity(), 0);
    }
}
