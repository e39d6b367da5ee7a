//! Client frames in (RFC 6455 §5): bytes as they arrive, complete messages out.

use crate::close::{self, BadClose, CloseCode, CloseFrame};
use crate::frame::{FIN, MAX_CONTROL_PAYLOAD, opcode};

/// Read buffers above this are released once empty, so a burst leaves nothing behind.
const RETAINED_BUFFER_BYTES: usize = 1024;

/// A complete message from the peer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Incoming {
    Text(String),
    Binary(Vec<u8>),
    Ping(Vec<u8>),
    Pong(Vec<u8>),
    /// The peer is closing, with its code and reason if it gave one. Nothing after it is
    /// read.
    Close(Option<CloseFrame>),
}

/// A framing rule the peer broke (each closes the connection with 1002).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Violation {
    /// RSV1-3 set without a negotiated extension (§5.2).
    ReservedBits,
    /// Opcodes 3-7 and 11-15 are reserved (§5.2).
    ReservedOpcode(u8),
    /// A client frame must be masked (§5.1).
    Unmasked,
    /// Control frames cannot be fragmented (§5.5).
    FragmentedControl,
    /// Control frames carry at most 125 bytes (§5.5).
    ControlTooLong,
    /// The length must use the minimal number of bytes (§5.2).
    NonMinimalLength,
    /// The most significant bit of a 64-bit length must be 0 (§5.2).
    LengthTopBit,
    /// A continuation frame with no fragmented message to continue (§5.4).
    UnexpectedContinuation,
    /// A new text or binary frame while a fragmented message is unfinished (§5.4).
    MessageInsideFragmented,
    /// A close payload of one byte (§5.5.1).
    CloseTruncated,
    /// A close code no peer may send (§7.4).
    InvalidCloseCode(u16),
}

/// Why the peer's bytes cannot go on; each maps to a close code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FrameError {
    /// Broken framing (1002).
    Protocol(Violation),
    /// A message over the size limit (1009).
    TooBig,
    /// Text, or a close reason, that is not UTF-8 (1007).
    NotUtf8,
}

impl FrameError {
    /// The close code this error is answered with.
    pub fn close_code(self) -> CloseCode {
        match self {
            FrameError::Protocol(_) => CloseCode::PROTOCOL,
            FrameError::TooBig => CloseCode::TOO_BIG,
            FrameError::NotUtf8 => CloseCode::INVALID_PAYLOAD,
        }
    }

    /// A short reason for the close frame.
    pub fn reason(self) -> &'static str {
        match self {
            FrameError::Protocol(_) => "invalid WebSocket framing",
            FrameError::TooBig => "message too big",
            FrameError::NotUtf8 => "text must be UTF-8",
        }
    }
}

/// A fragmented message being reassembled.
#[derive(Debug)]
struct Partial {
    text: bool,
    data: Vec<u8>,
    /// How much of `data` is known to be valid UTF-8 (text only), so invalid text fails
    /// at the fragment that breaks it and each byte is checked once.
    checked: usize,
}

/// One parsed frame header.
#[derive(Debug)]
struct Header {
    fin: bool,
    opcode: u8,
    mask: [u8; 4],
    start: usize,
    len: usize,
}

/// Turns the peer's byte stream into messages. Holds a partial frame (and a fragmented
/// message) between reads; empty, it holds no memory. The first error is final: every
/// later call returns it again.
#[derive(Debug)]
pub struct FrameReader {
    buf: Vec<u8>,
    partial: Option<Partial>,
    max_message: usize,
    closed: bool,
    failed: Option<FrameError>,
}

impl FrameReader {
    /// A reader that refuses data messages over `max_message` bytes (control frames have
    /// their own 125-byte limit and do not count).
    pub fn new(max_message: usize) -> Self {
        FrameReader {
            buf: Vec::new(),
            partial: None,
            max_message,
            closed: false,
            failed: None,
        }
    }

    /// Adds bytes read from the socket.
    pub fn extend(&mut self, bytes: &[u8]) {
        if !self.closed && self.failed.is_none() {
            self.buf.extend_from_slice(bytes);
        }
    }

    /// Bytes held: a partial frame and a partial message.
    pub fn buffered(&self) -> usize {
        self.buf.capacity() + self.partial.as_ref().map_or(0, |p| p.data.capacity())
    }

    /// The next complete message, `None` when more bytes are needed (or after a close).
    pub fn next_message(&mut self) -> Result<Option<Incoming>, FrameError> {
        if let Some(err) = self.failed {
            return Err(err);
        }
        let result = self.parse();
        if let Err(err) = result {
            self.failed = Some(err);
            self.buf = Vec::new();
            self.partial = None;
        }
        result
    }

    fn parse(&mut self) -> Result<Option<Incoming>, FrameError> {
        loop {
            if self.closed {
                self.buf = Vec::new();
                return Ok(None);
            }
            let Some(header) = self.header()? else {
                self.release_if_empty();
                return Ok(None);
            };
            let end = header.start + header.len;
            if self.buf.len() < end {
                return Ok(None);
            }
            let payload = &mut self.buf[header.start..end];
            for (i, byte) in payload.iter_mut().enumerate() {
                *byte ^= header.mask[i % 4];
            }
            let message = accept(&mut self.partial, &header, payload)?;
            self.buf.drain(..end);
            if let Some(message) = message {
                if matches!(message, Incoming::Close(_)) {
                    self.closed = true;
                    self.buf = Vec::new();
                }
                self.release_if_empty();
                return Ok(Some(message));
            }
        }
    }

    /// Parses and checks the header at the front of the buffer, if it is all there.
    /// Everything that can be refused from the header is refused before the payload
    /// arrives (a 1 GB length is refused from its first ten bytes).
    fn header(&self) -> Result<Option<Header>, FrameError> {
        use FrameError::Protocol;
        let buf = &self.buf;
        let (Some(&first), Some(&second)) = (buf.first(), buf.get(1)) else {
            return Ok(None);
        };
        if first & 0x70 != 0 {
            return Err(Protocol(Violation::ReservedBits));
        }
        let code = first & 0x0F;
        let fin = first & FIN != 0;
        if !matches!(
            code,
            opcode::CONTINUATION
                | opcode::TEXT
                | opcode::BINARY
                | opcode::CLOSE
                | opcode::PING
                | opcode::PONG
        ) {
            return Err(Protocol(Violation::ReservedOpcode(code)));
        }
        if second & 0x80 == 0 {
            return Err(Protocol(Violation::Unmasked));
        }
        let short = second & 0x7F;
        let control = code >= opcode::CLOSE;
        if control {
            if !fin {
                return Err(Protocol(Violation::FragmentedControl));
            }
            if usize::from(short) > MAX_CONTROL_PAYLOAD {
                return Err(Protocol(Violation::ControlTooLong));
            }
        } else if code == opcode::CONTINUATION {
            if self.partial.is_none() {
                return Err(Protocol(Violation::UnexpectedContinuation));
            }
        } else if self.partial.is_some() {
            return Err(Protocol(Violation::MessageInsideFragmented));
        }
        let (len, at) = match short {
            126 => match buf.get(2..4) {
                Some(&[a, b]) => {
                    let len = u64::from(u16::from_be_bytes([a, b]));
                    if len < 126 {
                        return Err(Protocol(Violation::NonMinimalLength));
                    }
                    (len, 4)
                }
                _ => return Ok(None),
            },
            127 => match buf.get(2..10) {
                Some(bytes) => {
                    let mut be = [0; 8];
                    be.copy_from_slice(bytes);
                    let len = u64::from_be_bytes(be);
                    if len >> 63 != 0 {
                        return Err(Protocol(Violation::LengthTopBit));
                    }
                    if len <= 0xFFFF {
                        return Err(Protocol(Violation::NonMinimalLength));
                    }
                    (len, 10)
                }
                None => return Ok(None),
            },
            short => (u64::from(short), 2),
        };
        if !control {
            let so_far = self.partial.as_ref().map_or(0, |p| p.data.len()) as u64;
            if so_far.saturating_add(len) > self.max_message as u64 {
                return Err(FrameError::TooBig);
            }
        }
        let Some(&[m0, m1, m2, m3]) = buf.get(at..at + 4) else {
            return Ok(None);
        };
        Ok(Some(Header {
            fin,
            opcode: code,
            mask: [m0, m1, m2, m3],
            start: at + 4,
            // At most max_message (data) or 125 (control), checked above.
            len: usize::try_from(len).map_err(|_| FrameError::TooBig)?,
        }))
    }

    fn release_if_empty(&mut self) {
        if self.buf.is_empty() && self.buf.capacity() > RETAINED_BUFFER_BYTES {
            self.buf = Vec::new();
        }
    }
}

/// Handles one unmasked frame whose header passed [`FrameReader::header`]: a whole
/// message, a fragment, or a control frame.
fn accept(
    partial: &mut Option<Partial>,
    header: &Header,
    payload: &[u8],
) -> Result<Option<Incoming>, FrameError> {
    match header.opcode {
        opcode::TEXT | opcode::BINARY => {
            let text = header.opcode == opcode::TEXT;
            if header.fin {
                return Ok(Some(whole(text, payload.to_vec())?));
            }
            let mut started = Partial {
                text,
                data: payload.to_vec(),
                checked: 0,
            };
            check_prefix(&mut started)?;
            *partial = Some(started);
            Ok(None)
        }
        opcode::CONTINUATION => {
            let Some(open) = partial.as_mut() else {
                return Err(FrameError::Protocol(Violation::UnexpectedContinuation));
            };
            open.data.extend_from_slice(payload);
            check_prefix(open)?;
            if !header.fin {
                return Ok(None);
            }
            let Some(done) = partial.take() else {
                return Err(FrameError::Protocol(Violation::UnexpectedContinuation));
            };
            Ok(Some(whole(done.text, done.data)?))
        }
        opcode::CLOSE => match close::parse(payload) {
            Ok(frame) => Ok(Some(Incoming::Close(frame))),
            Err(BadClose::Truncated) => Err(FrameError::Protocol(Violation::CloseTruncated)),
            Err(BadClose::InvalidCode(code)) => {
                Err(FrameError::Protocol(Violation::InvalidCloseCode(code)))
            }
            Err(BadClose::ReasonNotUtf8) => Err(FrameError::NotUtf8),
        },
        opcode::PING => Ok(Some(Incoming::Ping(payload.to_vec()))),
        opcode::PONG => Ok(Some(Incoming::Pong(payload.to_vec()))),
        other => Err(FrameError::Protocol(Violation::ReservedOpcode(other))),
    }
}

/// A complete data message.
fn whole(text: bool, data: Vec<u8>) -> Result<Incoming, FrameError> {
    if !text {
        return Ok(Incoming::Binary(data));
    }
    String::from_utf8(data)
        .map(Incoming::Text)
        .map_err(|_| FrameError::NotUtf8)
}

/// Fails as soon as a fragmented text can no longer become UTF-8; an incomplete
/// character at the end waits for the next fragment.
fn check_prefix(partial: &mut Partial) -> Result<(), FrameError> {
    if !partial.text {
        return Ok(());
    }
    match std::str::from_utf8(&partial.data[partial.checked..]) {
        Ok(_) => partial.checked = partial.data.len(),
        Err(err) if err.error_len().is_some() => return Err(FrameError::NotUtf8),
        Err(err) => partial.checked += err.valid_up_to(),
    }
    Ok(())
}
