//! Random identifiers: user ids, session tokens, pair rooms and aliases.

use rand::Rng;

/// `len` characters of lowercase base-32, about 5 random bits each: safe in room names
/// (no `.`), URLs and user ids.
pub fn random_token(rng: &mut impl Rng, len: usize) -> String {
    const ALPHABET: &[u8; 32] = b"0123456789abcdefghjkmnpqrstvwxyz";
    (0..len)
        .map(|_| char::from(ALPHABET[rng.random_range(0..ALPHABET.len())]))
        .collect()
}
