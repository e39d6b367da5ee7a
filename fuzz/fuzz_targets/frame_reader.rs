//! The frame reader on arbitrary bytes: it never panics, it gives the same messages and
//! the same error whether the bytes arrive whole or in arbitrary chunks, and no message
//! (nor the reader's buffers) grows past the message limit plus what it was fed.
#![no_main]

use chat_wire::{FrameError, FrameReader, Incoming};
use libfuzzer_sys::fuzz_target;

/// Small, so that the fuzzer reaches the size limit often.
const LIMIT: usize = 1024;

fn read(data: &[u8], mut chunk_sizes: impl FnMut() -> usize) -> Vec<Result<Incoming, FrameError>> {
    let mut reader = FrameReader::new(LIMIT);
    let mut out = Vec::new();
    let mut fed = 0;
    let mut rest = data;
    while !rest.is_empty() {
        let take = chunk_sizes().clamp(1, rest.len());
        let (piece, tail) = rest.split_at(take);
        rest = tail;
        reader.extend(piece);
        fed += piece.len();
        loop {
            let next = reader.next_message();
            assert!(
                reader.buffered() <= 2 * fed + 2 * LIMIT + 64,
                "{} bytes held after {fed} fed",
                reader.buffered()
            );
            match next {
                Ok(Some(message)) => {
                    if let Incoming::Text(text) = &message {
                        assert!(text.len() <= LIMIT);
                    }
                    if let Incoming::Binary(data) = &message {
                        assert!(data.len() <= LIMIT);
                    }
                    out.push(Ok(message));
                }
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

fuzz_target!(|input: &[u8]| {
    let Some((&seed, data)) = input.split_first() else {
        return;
    };
    let whole = read(data, || usize::MAX);
    let mut state = u32::from(seed) | 1;
    let chunked = read(data, || {
        // xorshift: a different, reproducible chunking for every seed.
        state ^= state << 13;
        state ^= state >> 17;
        state ^= state << 5;
        (state % 97) as usize + 1
    });
    assert_eq!(whole, chunked);
    assert_eq!(whole, read(data, || 1));
});
