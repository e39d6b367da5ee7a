//! A conformance suite modelled on Autobahn|Testsuite sections 1-7 and 9 (framing, pings,
//! reserved bits, opcodes, fragmentation, UTF-8, closing, limits), written from its
//! published case descriptions and RFC 6455, run against the echo server built on this
//! crate. (Autobahn itself needs Python 2, which these machines lack.)
//!
//! Every case sends bytes (whole, or in chunks of a given size), then a close 1000 of
//! its own unless the case closes itself, and expects exactly the listed frames back,
//! then the server's close code, then the end of the TCP stream.
#![allow(clippy::unwrap_used)]

mod echo;

use std::net::SocketAddr;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// The chat's message limit, which the echo server enforces too.
const LIMIT: usize = 64 * 1024;
const WAIT: Duration = Duration::from_secs(10);

type Frame = (u8, Vec<u8>);

struct Case {
    id: String,
    what: &'static str,
    send: Vec<u8>,
    /// Write `send` in pieces of this many bytes (flushed one by one), else whole.
    chunk: Option<usize>,
    /// Whether the case ends with a close of its own (else the runner adds one).
    closes_itself: bool,
    expect: Vec<Frame>,
    close: u16,
}

/// A masked client frame; `first` is FIN, RSV and opcode. Lengths are minimal.
fn raw(first: u8, payload: &[u8]) -> Vec<u8> {
    chat_wire::frame::masked(first, payload, [0x0f, 0x9a, 0x33, 0xc1])
}

fn text(payload: &[u8]) -> Vec<u8> {
    raw(0x81, payload)
}
fn binary(payload: &[u8]) -> Vec<u8> {
    raw(0x82, payload)
}
fn ping(payload: &[u8]) -> Vec<u8> {
    raw(0x89, payload)
}
fn pong(payload: &[u8]) -> Vec<u8> {
    raw(0x8A, payload)
}
fn close(code: u16, reason: &[u8]) -> Vec<u8> {
    raw(0x88, &[&code.to_be_bytes()[..], reason].concat())
}

/// A message split into frames of `size` bytes (at least one frame).
fn fragmented(opcode: u8, payload: &[u8], size: usize) -> Vec<u8> {
    let pieces: Vec<&[u8]> = if payload.is_empty() {
        vec![&[]]
    } else {
        payload.chunks(size).collect()
    };
    let last = pieces.len() - 1;
    pieces
        .iter()
        .enumerate()
        .flat_map(|(i, piece)| {
            let op = if i == 0 { opcode } else { 0 };
            let fin = if i == last { 0x80 } else { 0 };
            raw(fin | op, piece)
        })
        .collect()
}

fn echo_text(payload: &[u8]) -> Frame {
    (0x1, payload.to_vec())
}
fn echo_binary(payload: &[u8]) -> Frame {
    (0x2, payload.to_vec())
}
fn echo_pong(payload: &[u8]) -> Frame {
    (0xA, payload.to_vec())
}

fn ok(id: impl Into<String>, what: &'static str, send: Vec<u8>, expect: Vec<Frame>) -> Case {
    Case {
        id: id.into(),
        what,
        send,
        chunk: None,
        closes_itself: false,
        expect,
        close: 1000,
    }
}

fn fails(
    id: impl Into<String>,
    what: &'static str,
    send: Vec<u8>,
    expect: Vec<Frame>,
    close: u16,
) -> Case {
    Case {
        close,
        ..ok(id, what, send, expect)
    }
}

fn closing(
    id: impl Into<String>,
    what: &'static str,
    send: Vec<u8>,
    expect: Vec<Frame>,
    close: u16,
) -> Case {
    Case {
        closes_itself: true,
        close,
        ..ok(id, what, send, expect)
    }
}

fn chunked(mut case: Case, size: usize) -> Case {
    case.chunk = Some(size);
    case
}

fn cat(parts: &[Vec<u8>]) -> Vec<u8> {
    parts.concat()
}

fn section_1_framing() -> Vec<Case> {
    let mut cases = Vec::new();
    for (i, len) in [0, 125, 126, 127, 128, 65_535, 65_536]
        .into_iter()
        .enumerate()
    {
        let payload = vec![b'*'; len];
        cases.push(ok(
            format!("1.1.{}", i + 1),
            "text of a boundary length",
            text(&payload),
            vec![echo_text(&payload)],
        ));
        let payload = vec![0xfe; len];
        cases.push(ok(
            format!("1.2.{}", i + 1),
            "binary of a boundary length",
            binary(&payload),
            vec![echo_binary(&payload)],
        ));
    }
    let payload = vec![b'*'; 65_536];
    cases.push(chunked(
        ok(
            "1.1.8",
            "64 KiB text written in 997-byte chunks",
            text(&payload),
            vec![echo_text(&payload)],
        ),
        997,
    ));
    let payload = vec![0xfe; 65_536];
    cases.push(chunked(
        ok(
            "1.2.8",
            "64 KiB binary written in 997-byte chunks",
            binary(&payload),
            vec![echo_binary(&payload)],
        ),
        997,
    ));
    cases
}

fn section_2_pings() -> Vec<Case> {
    let ten_pings: Vec<u8> = (0..10).flat_map(|_| ping(b"payload")).collect();
    vec![
        ok(
            "2.1",
            "ping without payload",
            ping(b""),
            vec![echo_pong(b"")],
        ),
        ok(
            "2.2",
            "ping with a text payload",
            ping(b"Hello, world!"),
            vec![echo_pong(b"Hello, world!")],
        ),
        ok(
            "2.3",
            "ping with a binary payload",
            ping(&[0, 0xff, 0xfe, 0xfd, 0xfc, 0xfb, 0, 0xff]),
            vec![echo_pong(&[0, 0xff, 0xfe, 0xfd, 0xfc, 0xfb, 0, 0xff])],
        ),
        ok(
            "2.4",
            "ping with 125 bytes",
            ping(&[0xfe; 125]),
            vec![echo_pong(&[0xfe; 125])],
        ),
        fails(
            "2.5",
            "ping with 126 bytes",
            ping(&[0xfe; 126]),
            vec![],
            1002,
        ),
        chunked(
            ok(
                "2.6",
                "ping with 125 bytes, written a byte at a time",
                ping(&[0xfe; 125]),
                vec![echo_pong(&[0xfe; 125])],
            ),
            1,
        ),
        ok("2.7", "unsolicited pong without payload", pong(b""), vec![]),
        ok(
            "2.8",
            "unsolicited pong with payload",
            pong(b"unsolicited"),
            vec![],
        ),
        ok(
            "2.9",
            "pong then ping",
            cat(&[pong(b"unsolicited"), ping(b"solicited")]),
            vec![echo_pong(b"solicited")],
        ),
        ok(
            "2.10",
            "ten pings",
            ten_pings.clone(),
            vec![echo_pong(b"payload"); 10],
        ),
        chunked(
            ok(
                "2.11",
                "ten pings, written a byte at a time",
                ten_pings,
                vec![echo_pong(b"payload"); 10],
            ),
            1,
        ),
    ]
}

fn section_3_reserved_bits() -> Vec<Case> {
    vec![
        fails(
            "3.1",
            "RSV1 on a text frame",
            raw(0xC1, b"Hello"),
            vec![],
            1002,
        ),
        fails(
            "3.2",
            "text, then RSV2 on a text frame, then a ping",
            cat(&[text(b"Hello"), raw(0xA1, b"Hello"), ping(b"")]),
            vec![echo_text(b"Hello")],
            1002,
        ),
        chunked(
            fails(
                "3.3",
                "the same, written a byte at a time (RSV1+RSV2)",
                cat(&[text(b"Hello"), raw(0xE1, b"Hello"), ping(b"")]),
                vec![echo_text(b"Hello")],
                1002,
            ),
            1,
        ),
        fails(
            "3.4",
            "RSV3 on a text frame",
            raw(0x91, b"Hello"),
            vec![],
            1002,
        ),
        fails(
            "3.5",
            "RSV1+RSV3 on a binary frame",
            raw(0xD2, &[0xff; 8]),
            vec![],
            1002,
        ),
        fails(
            "3.6",
            "RSV2+RSV3 on a ping",
            raw(0xB9, b"Hello"),
            vec![],
            1002,
        ),
        fails(
            "3.7",
            "every RSV bit on a close",
            raw(0xF8, &1000u16.to_be_bytes()),
            vec![],
            1002,
        ),
    ]
}

fn section_4_opcodes() -> Vec<Case> {
    let mut cases = Vec::new();
    for (i, op) in [3u8, 4, 5, 6, 7].into_iter().enumerate() {
        cases.push(fails(
            format!("4.1.{}", i + 1),
            "reserved data opcode, after a good message",
            cat(&[text(b"Hello"), raw(0x80 | op, b"reserved"), ping(b"")]),
            vec![echo_text(b"Hello")],
            1002,
        ));
    }
    for (i, op) in [11u8, 12, 13, 14, 15].into_iter().enumerate() {
        cases.push(fails(
            format!("4.2.{}", i + 1),
            "reserved control opcode, after a good message",
            cat(&[text(b"Hello"), raw(0x80 | op, b""), ping(b"")]),
            vec![echo_text(b"Hello")],
            1002,
        ));
    }
    cases
}

fn section_5_fragmentation() -> Vec<Case> {
    let frags = cat(&[raw(0x01, b"fragment1"), raw(0x80, b"fragment2")]);
    let frags_ping = cat(&[
        raw(0x01, b"fragment1"),
        ping(b"pongme!"),
        raw(0x80, b"fragment2"),
    ]);
    vec![
        fails(
            "5.1",
            "a fragmented ping",
            cat(&[raw(0x09, b"fragment1"), raw(0x80, b"fragment2")]),
            vec![],
            1002,
        ),
        fails(
            "5.2",
            "a fragmented pong",
            cat(&[raw(0x0A, b"fragment1"), raw(0x80, b"fragment2")]),
            vec![],
            1002,
        ),
        ok(
            "5.3",
            "text in two fragments",
            frags.clone(),
            vec![echo_text(b"fragment1fragment2")],
        ),
        chunked(
            ok(
                "5.4",
                "text in two fragments, written a byte at a time",
                frags.clone(),
                vec![echo_text(b"fragment1fragment2")],
            ),
            1,
        ),
        ok(
            "5.6",
            "text in two fragments with a ping between",
            frags_ping.clone(),
            vec![echo_pong(b"pongme!"), echo_text(b"fragment1fragment2")],
        ),
        chunked(
            ok(
                "5.7",
                "the same, written a byte at a time",
                frags_ping,
                vec![echo_pong(b"pongme!"), echo_text(b"fragment1fragment2")],
            ),
            1,
        ),
        fails(
            "5.9",
            "a final continuation with nothing to continue",
            cat(&[
                raw(0x80, b"non-continuation payload"),
                text(b"Hello, world!"),
            ]),
            vec![],
            1002,
        ),
        fails(
            "5.10",
            "a continuation with nothing to continue",
            cat(&[
                raw(0x00, b"non-continuation payload"),
                text(b"Hello, world!"),
            ]),
            vec![],
            1002,
        ),
        fails(
            "5.13",
            "continuations then a final one, nothing to continue",
            cat(&[raw(0x00, b"a"), raw(0x00, b"b"), raw(0x80, b"c")]),
            vec![],
            1002,
        ),
        fails(
            "5.15",
            "a new message inside a fragmented one",
            cat(&[
                raw(0x01, b"fragment1"),
                raw(0x80, b"fragment2"),
                raw(0x00, b"fragment3"),
                raw(0x80, b"fragment4"),
            ]),
            vec![echo_text(b"fragment1fragment2")],
            1002,
        ),
        fails(
            "5.17",
            "a text frame inside a fragmented message",
            cat(&[raw(0x01, b"fragment1"), raw(0x81, b"fragment2")]),
            vec![],
            1002,
        ),
        fails(
            "5.18",
            "a new fragmented message inside one",
            cat(&[
                raw(0x01, b"fragment1"),
                raw(0x01, b"fragment2"),
                raw(0x80, b"fragment3"),
            ]),
            vec![],
            1002,
        ),
        ok(
            "5.19",
            "five fragments with pings between",
            cat(&[
                raw(0x01, b"fragment1"),
                raw(0x00, b"fragment2"),
                ping(b"pongme 1!"),
                raw(0x00, b"fragment3"),
                raw(0x00, b"fragment4"),
                ping(b"pongme 2!"),
                raw(0x80, b"fragment5"),
            ]),
            vec![
                echo_pong(b"pongme 1!"),
                echo_pong(b"pongme 2!"),
                echo_text(b"fragment1fragment2fragment3fragment4fragment5"),
            ],
        ),
        ok(
            "5.21",
            "binary in fragments",
            fragmented(0x2, &[7; 300], 64),
            vec![echo_binary(&[7; 300])],
        ),
        ok(
            "5.22",
            "empty fragments",
            cat(&[raw(0x01, b""), raw(0x00, b""), raw(0x80, b"")]),
            vec![echo_text(b"")],
        ),
    ]
}

/// Valid UTF-8 texts (Autobahn 6.2, 6.5, 6.7, 6.22-6.23 boundaries).
fn valid_utf8() -> Vec<(&'static str, Vec<u8>)> {
    vec![
        (
            "Hello-µ@ßöäüàá-UTF-8!!",
            "Hello-µ@ßöäüàá-UTF-8!!".as_bytes().to_vec(),
        ),
        ("κόσμε", "κόσμε".as_bytes().to_vec()),
        ("first 1-byte", vec![0x00]),
        ("first 2-byte", vec![0xc2, 0x80]),
        ("first 3-byte", vec![0xe0, 0xa0, 0x80]),
        ("first 4-byte", vec![0xf0, 0x90, 0x80, 0x80]),
        ("last 1-byte", vec![0x7f]),
        ("last 2-byte", vec![0xdf, 0xbf]),
        ("last 3-byte", vec![0xef, 0xbf, 0xbf]),
        ("last 4-byte", vec![0xf4, 0x8f, 0xbf, 0xbf]),
        ("before surrogates", vec![0xed, 0x9f, 0xbf]),
        ("after surrogates", vec![0xee, 0x80, 0x80]),
        ("U+FFFD", vec![0xef, 0xbf, 0xbd]),
        ("noncharacter U+FFFF", vec![0xef, 0xbf, 0xbf]),
    ]
}

/// Invalid UTF-8 (Autobahn 6.3, 6.6, 6.8-6.21).
fn invalid_utf8() -> Vec<(&'static str, Vec<u8>)> {
    let mut greek = "κόσμε".as_bytes().to_vec();
    greek.extend_from_slice(&[0xed, 0xa0, 0x80]);
    greek.extend_from_slice(b"edited");
    vec![
        ("a surrogate inside valid text", greek),
        ("5-byte sequence", vec![0xf8, 0x88, 0x80, 0x80, 0x80]),
        ("6-byte sequence", vec![0xfc, 0x84, 0x80, 0x80, 0x80, 0x80]),
        ("beyond U+10FFFF", vec![0xf4, 0x90, 0x80, 0x80]),
        ("lone continuation", vec![0x80]),
        ("two continuations", vec![0x80, 0xbf]),
        ("truncated 2-byte", vec![0xc2]),
        ("truncated 3-byte", vec![0xe0, 0xa0]),
        ("truncated 4-byte", vec![0xf0, 0x90, 0x80]),
        ("lone start then space", vec![0xc0, 0x20]),
        ("0xFE", vec![0xfe]),
        ("0xFF", vec![0xff]),
        ("overlong slash, 2 bytes", vec![0xc0, 0xaf]),
        ("overlong slash, 3 bytes", vec![0xe0, 0x80, 0xaf]),
        ("overlong slash, 4 bytes", vec![0xf0, 0x80, 0x80, 0xaf]),
        ("overlong NUL", vec![0xc0, 0x80]),
        ("high surrogate", vec![0xed, 0xa0, 0x80]),
        ("low surrogate", vec![0xed, 0xbf, 0xbf]),
        ("surrogate pair", vec![0xed, 0xa0, 0x80, 0xed, 0xb0, 0x80]),
        ("valid, then invalid", vec![b'o', b'k', 0xce, 0xba, 0xff]),
    ]
}

fn section_6_utf8() -> Vec<Case> {
    let mut cases = vec![
        ok("6.1.1", "empty text", text(b""), vec![echo_text(b"")]),
        ok(
            "6.1.2",
            "empty fragments",
            cat(&[raw(0x01, b""), raw(0x00, b""), raw(0x80, b"")]),
            vec![echo_text(b"")],
        ),
        ok(
            "6.1.3",
            "empty, empty, then text",
            cat(&[raw(0x01, b""), raw(0x00, b"middle"), raw(0x80, b"")]),
            vec![echo_text(b"middle")],
        ),
    ];
    for (i, (name, bytes)) in valid_utf8().into_iter().enumerate() {
        let _ = name;
        cases.push(ok(
            format!("6.2.{}", i + 1),
            "valid UTF-8 in one frame",
            text(&bytes),
            vec![echo_text(&bytes)],
        ));
        cases.push(ok(
            format!("6.4.{}", i + 1),
            "valid UTF-8 fragmented at every byte",
            fragmented(0x1, &bytes, 1),
            vec![echo_text(&bytes)],
        ));
        cases.push(chunked(
            ok(
                format!("6.5.{}", i + 1),
                "valid UTF-8 written a byte at a time",
                text(&bytes),
                vec![echo_text(&bytes)],
            ),
            1,
        ));
    }
    for (i, (_, bytes)) in invalid_utf8().into_iter().enumerate() {
        cases.push(fails(
            format!("6.3.{}", i + 1),
            "invalid UTF-8 in one frame",
            text(&bytes),
            vec![],
            1007,
        ));
        cases.push(fails(
            format!("6.6.{}", i + 1),
            "invalid UTF-8 fragmented at every byte",
            fragmented(0x1, &bytes, 1),
            vec![],
            1007,
        ));
        cases.push(chunked(
            fails(
                format!("6.8.{}", i + 1),
                "invalid UTF-8 written a byte at a time",
                text(&bytes),
                vec![],
                1007,
            ),
            1,
        ));
    }
    // Fail fast (6.4.x): invalid text in the first fragment is refused even though the
    // message never finishes.
    cases.push(fails(
        "6.9.1",
        "invalid first fragment of an unfinished message",
        raw(
            0x01,
            &[
                0xce, 0xba, 0xe1, 0xbd, 0xb9, 0xcf, 0x83, 0xce, 0xbc, 0xce, 0xb5, 0xf4, 0x90, 0x80,
                0x80,
            ],
        ),
        vec![],
        1007,
    ));
    cases
}

fn section_7_close() -> Vec<Case> {
    let mut cases = vec![
        closing(
            "7.1.1",
            "text, then close",
            cat(&[text(b"Hello World!"), close(1000, b"")]),
            vec![echo_text(b"Hello World!")],
            1000,
        ),
        closing(
            "7.1.2",
            "two closes: the second is ignored",
            cat(&[close(1000, b""), close(1000, b"")]),
            vec![],
            1000,
        ),
        closing(
            "7.1.3",
            "a ping after the close is not answered",
            cat(&[close(1000, b""), ping(b"")]),
            vec![],
            1000,
        ),
        closing(
            "7.1.4",
            "text after the close is not echoed",
            cat(&[close(1000, b""), text(b"late")]),
            vec![],
            1000,
        ),
        closing(
            "7.1.5",
            "a close between fragments",
            cat(&[
                raw(0x01, b"fragment1"),
                close(1000, b""),
                raw(0x80, b"fragment2"),
            ]),
            vec![],
            1000,
        ),
        closing(
            "7.1.6",
            "a large message, then close",
            cat(&[text(&[b'B'; 60_000]), close(1000, b"")]),
            vec![echo_text(&[b'B'; 60_000])],
            1000,
        ),
        closing(
            "7.3.1",
            "close without payload",
            raw(0x88, b""),
            vec![],
            1000,
        ),
        closing(
            "7.3.2",
            "close with one byte",
            raw(0x88, b"\x03"),
            vec![],
            1002,
        ),
        closing("7.3.3", "close 1000", close(1000, b""), vec![], 1000),
        closing(
            "7.3.4",
            "close 1000 with a reason",
            close(1000, b"Hello World!"),
            vec![],
            1000,
        ),
        closing(
            "7.3.5",
            "close with a 123-byte reason",
            close(1000, &[b'*'; 123]),
            vec![],
            1000,
        ),
        closing(
            "7.3.6",
            "close with a 124-byte reason (a 126-byte control frame)",
            close(1000, &[b'*'; 124]),
            vec![],
            1002,
        ),
        closing(
            "7.5.1",
            "close reason that is not UTF-8",
            close(
                1000,
                &[
                    0xce, 0xba, 0xe1, 0xbd, 0xb9, 0xcf, 0x83, 0xce, 0xbc, 0xce, 0xb5, 0xed, 0xa0,
                    0x80, 0x65, 0x64, 0x69, 0x74, 0x65, 0x64,
                ],
            ),
            vec![],
            1007,
        ),
    ];
    for (i, code) in [
        1000u16, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 1012, 1013, 1014, 3000, 3999,
        4000, 4999,
    ]
    .into_iter()
    .enumerate()
    {
        cases.push(closing(
            format!("7.7.{}", i + 1),
            "a valid close code is echoed",
            close(code, b""),
            vec![],
            code,
        ));
    }
    for (i, code) in [
        0u16, 999, 1004, 1005, 1006, 1015, 1016, 1100, 2000, 2999, 5000, 65535,
    ]
    .into_iter()
    .enumerate()
    {
        cases.push(closing(
            format!("7.9.{}", i + 1),
            "an invalid close code is refused",
            close(code, b""),
            vec![],
            1002,
        ));
    }
    cases
}

fn section_9_limits() -> Vec<Case> {
    let mut cases = vec![
        ok(
            "9.1.1",
            "text at the 64 KiB limit",
            text(&[b'*'; LIMIT]),
            vec![echo_text(&[b'*'; LIMIT])],
        ),
        fails(
            "9.1.2",
            "text one byte over the limit",
            text(&[b'*'; LIMIT + 1]),
            vec![],
            1009,
        ),
        ok(
            "9.2.1",
            "binary at the limit",
            binary(&[0xfe; LIMIT]),
            vec![echo_binary(&[0xfe; LIMIT])],
        ),
        fails(
            "9.2.2",
            "binary one byte over the limit",
            binary(&[0xfe; LIMIT + 1]),
            vec![],
            1009,
        ),
        fails(
            "9.2.3",
            "fragments together over the limit",
            fragmented(0x2, &[0xfe; LIMIT + 1], 4096),
            vec![],
            1009,
        ),
    ];
    let message = vec![b'*'; LIMIT];
    for (i, size) in [64usize, 256, 1024, 4096, 16_384, 65_536]
        .into_iter()
        .enumerate()
    {
        cases.push(ok(
            format!("9.3.{}", i + 1),
            "64 KiB text in fragments of a given size",
            fragmented(0x1, &message, size),
            vec![echo_text(&message)],
        ));
        cases.push(ok(
            format!("9.4.{}", i + 1),
            "64 KiB binary in fragments of a given size",
            fragmented(0x2, &message, size),
            vec![echo_binary(&message)],
        ));
    }
    for (i, size) in [64usize, 128, 256, 512, 1024, 2048].into_iter().enumerate() {
        cases.push(chunked(
            ok(
                format!("9.5.{}", i + 1),
                "64 KiB text written in chunks of a given size",
                text(&message),
                vec![echo_text(&message)],
            ),
            size,
        ));
    }
    let many: Vec<u8> = (0..1000).flat_map(|_| text(b"Hello, world!")).collect();
    cases.push(ok(
        "9.7.1",
        "1000 small text messages in a row",
        many,
        vec![echo_text(b"Hello, world!"); 1000],
    ));
    let many: Vec<u8> = (0..1000).flat_map(|_| binary(&[1, 2, 3])).collect();
    cases.push(ok(
        "9.8.1",
        "1000 small binary messages in a row",
        many,
        vec![echo_binary(&[1, 2, 3]); 1000],
    ));
    cases
}

/// What the server sent back for one case: its frames, and its close code.
async fn run(addr: SocketAddr, case: &Case) -> (Vec<Frame>, Option<u16>) {
    let mut stream = TcpStream::connect(addr).await.unwrap();
    stream.set_nodelay(true).unwrap();
    let request = format!(
        "GET / HTTP/1.1\r\nHost: {addr}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
    );
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut head = Vec::new();
    while !head.ends_with(b"\r\n\r\n") {
        let mut byte = [0];
        stream.read_exact(&mut byte).await.unwrap();
        head.push(byte[0]);
    }
    assert!(
        head.starts_with(b"HTTP/1.1 101"),
        "{}",
        String::from_utf8_lossy(&head)
    );
    let (mut read, mut write) = stream.into_split();
    let mut send = case.send.clone();
    if !case.closes_itself {
        send.extend(close(1000, b""));
    }
    let chunk = case.chunk;
    // Written from a task of its own, so a server that stops reading cannot stall us; a
    // write that fails because the server already closed is part of some cases.
    let writer = tokio::spawn(async move {
        for piece in send.chunks(chunk.unwrap_or(usize::MAX).max(1)) {
            if write.write_all(piece).await.is_err() {
                return write;
            }
            if chunk.is_some() {
                tokio::task::yield_now().await;
            }
        }
        write
    });
    let mut frames = Vec::new();
    let code = loop {
        let mut header = [0u8; 2];
        if read.read_exact(&mut header).await.is_err() {
            break None;
        }
        assert_eq!(header[1] & 0x80, 0, "server frames are unmasked");
        let len = match header[1] & 0x7F {
            126 => usize::from(read.read_u16().await.unwrap()),
            127 => usize::try_from(read.read_u64().await.unwrap()).unwrap(),
            len => usize::from(len),
        };
        let mut payload = vec![0; len];
        read.read_exact(&mut payload).await.unwrap();
        let opcode = header[0] & 0x0F;
        assert_eq!(
            header[0] & 0xF0,
            0x80,
            "server frames are final, without RSV bits"
        );
        if opcode == 0x8 {
            assert!(payload.len() >= 2, "the server's close carries a code");
            assert!(
                std::str::from_utf8(&payload[2..]).is_ok(),
                "its reason is UTF-8"
            );
            break Some(u16::from_be_bytes([payload[0], payload[1]]));
        }
        frames.push((opcode, payload));
    };
    // Our half of the closing handshake, then the server must end the stream.
    let mut write = writer.await.unwrap();
    let _ = write.shutdown().await;
    let mut rest = Vec::new();
    let _ = read.read_to_end(&mut rest).await;
    assert!(rest.is_empty(), "{}: bytes after the close frame", case.id);
    (frames, code)
}

fn describe(frames: &[Frame]) -> Vec<(u8, usize)> {
    frames.iter().map(|(op, p)| (*op, p.len())).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn autobahn_sections_1_to_7_and_9() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(echo::serve(listener, LIMIT));
    let cases: Vec<Case> = [
        section_1_framing(),
        section_2_pings(),
        section_3_reserved_bits(),
        section_4_opcodes(),
        section_5_fragmentation(),
        section_6_utf8(),
        section_7_close(),
        section_9_limits(),
    ]
    .into_iter()
    .flatten()
    .collect();
    let mut failures = Vec::new();
    for case in &cases {
        let (frames, code) = tokio::time::timeout(WAIT, run(addr, case))
            .await
            .unwrap_or_else(|_| panic!("case {} ({}) timed out", case.id, case.what));
        if frames != case.expect || code != Some(case.close) {
            failures.push(format!(
                "{} ({}): got {:?} then close {:?}, expected {:?} then close {}",
                case.id,
                case.what,
                describe(&frames),
                code,
                describe(&case.expect),
                case.close
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} cases failed:\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n")
    );
    eprintln!("{} conformance cases passed", cases.len());
}
