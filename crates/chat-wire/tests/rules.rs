//! Every framing rule of RFC 6455 that a server enforces, one named case each: the bytes a
//! client sends and what the reader makes of them. Each case is also fed one byte at a
//! time, which must give the same result.

use chat_wire::{CloseCode, CloseFrame, FrameError, FrameReader, Incoming, Violation};

const LIMIT: usize = 64 * 1024;
const MASK: [u8; 4] = [0x37, 0xfa, 0x21, 0x3d];

/// A masked client frame: `first` is FIN, RSV and opcode; the length is encoded minimally.
fn frame(first: u8, payload: &[u8]) -> Vec<u8> {
    chat_wire::frame::masked(first, payload, MASK)
}

fn masked_payload(mut head: Vec<u8>, payload: &[u8]) -> Vec<u8> {
    head.extend_from_slice(&MASK);
    head.extend(payload.iter().enumerate().map(|(i, b)| b ^ MASK[i % 4]));
    head
}

/// A frame whose length field is written as given, however unusual.
fn with_length_field(first: u8, field: &[u8], payload: &[u8]) -> Vec<u8> {
    let mut head = vec![first];
    head.extend_from_slice(field);
    masked_payload(head, payload)
}

fn cat(frames: &[Vec<u8>]) -> Vec<u8> {
    frames.concat()
}

type Outcome = Vec<Result<Incoming, FrameError>>;

fn read(bytes: &[u8], chunk: usize) -> Outcome {
    let mut reader = FrameReader::new(LIMIT);
    let mut out = Vec::new();
    for piece in bytes.chunks(chunk.max(1)) {
        reader.extend(piece);
        loop {
            match reader.next_message() {
                Ok(Some(message)) => out.push(Ok(message)),
                Ok(None) => break,
                Err(err) => {
                    out.push(Err(err));
                    return out;
                }
            }
        }
    }
    out
}

fn text(s: &str) -> Result<Incoming, FrameError> {
    Ok(Incoming::Text(s.to_owned()))
}

fn protocol(violation: Violation) -> Result<Incoming, FrameError> {
    Err(FrameError::Protocol(violation))
}

fn close(code: u16, reason: &str) -> Result<Incoming, FrameError> {
    Ok(Incoming::Close(Some(CloseFrame {
        code: CloseCode(code),
        reason: reason.to_owned(),
    })))
}

fn cases() -> Vec<(&'static str, Vec<u8>, Outcome)> {
    let long = "x".repeat(70_000);
    vec![
        // §5.2 lengths
        ("empty text", frame(0x81, b""), vec![text("")]),
        ("7-bit length", frame(0x81, b"hello"), vec![text("hello")]),
        (
            "125 bytes",
            frame(0x81, &[b'a'; 125]),
            vec![text(&"a".repeat(125))],
        ),
        (
            "16-bit length",
            frame(0x81, &[b'a'; 126]),
            vec![text(&"a".repeat(126))],
        ),
        (
            "65535 bytes",
            frame(0x81, &[b'a'; 65_535]),
            vec![text(&"a".repeat(65_535))],
        ),
        (
            "64 KiB exactly",
            frame(0x81, &[b'a'; LIMIT]),
            vec![text(&"a".repeat(LIMIT))],
        ),
        (
            "binary",
            frame(0x82, &[0, 1, 2]),
            vec![Ok(Incoming::Binary(vec![0, 1, 2]))],
        ),
        (
            "16-bit length for 5 bytes is not minimal",
            with_length_field(0x81, &[0x80 | 126, 0, 5], b"hello"),
            vec![protocol(Violation::NonMinimalLength)],
        ),
        (
            "64-bit length for 200 bytes is not minimal",
            with_length_field(0x81, &[0x80 | 127, 0, 0, 0, 0, 0, 0, 0, 200], &[b'a'; 200]),
            vec![protocol(Violation::NonMinimalLength)],
        ),
        (
            "64-bit length with the top bit set",
            with_length_field(0x81, &[0x80 | 127, 0x80, 0, 0, 0, 0, 0, 0, 1], b""),
            vec![protocol(Violation::LengthTopBit)],
        ),
        (
            "over the message limit",
            frame(0x81, long.as_bytes()),
            vec![Err(FrameError::TooBig)],
        ),
        (
            "a 1 TB header is refused before its payload",
            with_length_field(0x81, &[0x80 | 127, 0, 0, 1, 0, 0, 0, 0, 0], b""),
            vec![Err(FrameError::TooBig)],
        ),
        // §5.1 masking, §5.2 reserved bits and opcodes
        (
            "unmasked",
            vec![0x81, 0x02, b'h', b'i'],
            vec![protocol(Violation::Unmasked)],
        ),
        (
            "RSV1",
            frame(0xC1, b"x"),
            vec![protocol(Violation::ReservedBits)],
        ),
        (
            "RSV2",
            frame(0xA1, b"x"),
            vec![protocol(Violation::ReservedBits)],
        ),
        (
            "RSV3",
            frame(0x91, b"x"),
            vec![protocol(Violation::ReservedBits)],
        ),
        (
            "opcode 3",
            frame(0x83, b"x"),
            vec![protocol(Violation::ReservedOpcode(3))],
        ),
        (
            "opcode 7",
            frame(0x87, b""),
            vec![protocol(Violation::ReservedOpcode(7))],
        ),
        (
            "opcode 11",
            frame(0x8B, b""),
            vec![protocol(Violation::ReservedOpcode(11))],
        ),
        (
            "opcode 15",
            frame(0x8F, b"x"),
            vec![protocol(Violation::ReservedOpcode(15))],
        ),
        // §5.5 control frames
        (
            "ping",
            frame(0x89, b"hey"),
            vec![Ok(Incoming::Ping(b"hey".to_vec()))],
        ),
        (
            "ping with 125 bytes",
            frame(0x89, &[7; 125]),
            vec![Ok(Incoming::Ping(vec![7; 125]))],
        ),
        (
            "ping with 126 bytes",
            frame(0x89, &[7; 126]),
            vec![protocol(Violation::ControlTooLong)],
        ),
        (
            "fragmented ping",
            frame(0x09, b"x"),
            vec![protocol(Violation::FragmentedControl)],
        ),
        (
            "pong",
            frame(0x8A, b"p"),
            vec![Ok(Incoming::Pong(b"p".to_vec()))],
        ),
        // §5.4 fragmentation
        (
            "three fragments",
            cat(&[
                frame(0x01, b"fra"),
                frame(0x00, b"gme"),
                frame(0x80, b"nts"),
            ]),
            vec![text("fragments")],
        ),
        (
            "empty fragments",
            cat(&[frame(0x01, b""), frame(0x00, b""), frame(0x80, b"")]),
            vec![text("")],
        ),
        (
            "ping between fragments",
            cat(&[frame(0x01, b"hel"), frame(0x89, b"p"), frame(0x80, b"lo")]),
            vec![Ok(Incoming::Ping(b"p".to_vec())), text("hello")],
        ),
        (
            "a ping does not count against the message limit",
            cat(&[
                frame(0x01, &[b'a'; LIMIT - 10]),
                frame(0x89, &[1; 125]),
                frame(0x80, &[b'a'; 10]),
            ]),
            vec![Ok(Incoming::Ping(vec![1; 125])), text(&"a".repeat(LIMIT))],
        ),
        (
            "fragments together over the limit",
            cat(&[frame(0x01, &[b'a'; LIMIT]), frame(0x80, b"a")]),
            vec![Err(FrameError::TooBig)],
        ),
        (
            "continuation with nothing to continue",
            frame(0x80, b"x"),
            vec![protocol(Violation::UnexpectedContinuation)],
        ),
        (
            "text inside a fragmented message",
            cat(&[frame(0x01, b"a"), frame(0x81, b"b")]),
            vec![protocol(Violation::MessageInsideFragmented)],
        ),
        (
            "binary fragments",
            cat(&[frame(0x02, &[1]), frame(0x80, &[2])]),
            vec![Ok(Incoming::Binary(vec![1, 2]))],
        ),
        // §8.1 UTF-8
        (
            "valid UTF-8",
            frame(0x81, "κόσμε".as_bytes()),
            vec![text("κόσμε")],
        ),
        (
            "invalid UTF-8",
            frame(0x81, &[0xCE, 0xBA, 0xED, 0xA0, 0x80]),
            vec![Err(FrameError::NotUtf8)],
        ),
        (
            "a character split across fragments",
            cat(&[frame(0x01, &[0xCE]), frame(0x80, &[0xBA])]),
            vec![text("κ")],
        ),
        (
            "invalid text fails at its fragment, before the message ends",
            cat(&[frame(0x01, b"ok"), frame(0x00, &[0xFF])]),
            vec![Err(FrameError::NotUtf8)],
        ),
        (
            "a truncated character at the end",
            cat(&[frame(0x01, b"ok"), frame(0x80, &[0xCE])]),
            vec![Err(FrameError::NotUtf8)],
        ),
        // §5.5.1 and §7.4 close
        (
            "close without payload",
            frame(0x88, b""),
            vec![Ok(Incoming::Close(None))],
        ),
        (
            "close 1000",
            frame(0x88, &[0x03, 0xE8]),
            vec![close(1000, "")],
        ),
        (
            "close with a reason",
            frame(0x88, b"\x03\xe9bye"),
            vec![close(1001, "bye")],
        ),
        (
            "close 3000",
            frame(0x88, &3000u16.to_be_bytes()),
            vec![close(3000, "")],
        ),
        (
            "close 4999",
            frame(0x88, &4999u16.to_be_bytes()),
            vec![close(4999, "")],
        ),
        (
            "close 1014",
            frame(0x88, &1014u16.to_be_bytes()),
            vec![close(1014, "")],
        ),
        (
            "close with one byte",
            frame(0x88, &[0x03]),
            vec![protocol(Violation::CloseTruncated)],
        ),
        (
            "close 999",
            frame(0x88, &999u16.to_be_bytes()),
            vec![protocol(Violation::InvalidCloseCode(999))],
        ),
        (
            "close 1004",
            frame(0x88, &1004u16.to_be_bytes()),
            vec![protocol(Violation::InvalidCloseCode(1004))],
        ),
        (
            "close 1005",
            frame(0x88, &1005u16.to_be_bytes()),
            vec![protocol(Violation::InvalidCloseCode(1005))],
        ),
        (
            "close 1006",
            frame(0x88, &1006u16.to_be_bytes()),
            vec![protocol(Violation::InvalidCloseCode(1006))],
        ),
        (
            "close 1015",
            frame(0x88, &1015u16.to_be_bytes()),
            vec![protocol(Violation::InvalidCloseCode(1015))],
        ),
        (
            "close 1016",
            frame(0x88, &1016u16.to_be_bytes()),
            vec![protocol(Violation::InvalidCloseCode(1016))],
        ),
        (
            "close 2999",
            frame(0x88, &2999u16.to_be_bytes()),
            vec![protocol(Violation::InvalidCloseCode(2999))],
        ),
        (
            "close 5000",
            frame(0x88, &5000u16.to_be_bytes()),
            vec![protocol(Violation::InvalidCloseCode(5000))],
        ),
        (
            "close 65535",
            frame(0x88, &65535u16.to_be_bytes()),
            vec![protocol(Violation::InvalidCloseCode(65535))],
        ),
        (
            "close reason not UTF-8",
            frame(0x88, b"\x03\xe8\xff\xfe"),
            vec![Err(FrameError::NotUtf8)],
        ),
        (
            "nothing after a close is read",
            cat(&[
                frame(0x88, &[0x03, 0xE8]),
                frame(0x81, b"late"),
                vec![0xFF, 0xFF],
            ]),
            vec![close(1000, "")],
        ),
        (
            "a close between fragments",
            cat(&[frame(0x01, b"a"), frame(0x88, b"")]),
            vec![Ok(Incoming::Close(None))],
        ),
    ]
}

#[test]
fn every_rule_whole_and_byte_by_byte() {
    for (name, bytes, expected) in cases() {
        assert_eq!(read(&bytes, bytes.len()), expected, "{name} (fed whole)");
        assert_eq!(read(&bytes, 1), expected, "{name} (byte by byte)");
        assert_eq!(read(&bytes, 7), expected, "{name} (7-byte chunks)");
    }
}

#[test]
fn an_error_is_final() {
    let mut reader = FrameReader::new(LIMIT);
    reader.extend(&frame(0xC1, b"x"));
    let err = reader.next_message().expect_err("reserved bit");
    reader.extend(&frame(0x81, b"fine"));
    assert_eq!(reader.next_message(), Err(err));
}

#[test]
fn an_idle_reader_holds_no_buffer() {
    let mut reader = FrameReader::new(LIMIT);
    reader.extend(&frame(0x81, &[b'a'; 4000]));
    assert!(matches!(reader.next_message(), Ok(Some(Incoming::Text(_)))));
    assert_eq!(reader.buffered(), 0);
}
