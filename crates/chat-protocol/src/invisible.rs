//! Which characters a display name may not hide behind: the ones that draw nothing, or
//! that change how the text around them is drawn. "Admin" followed by a zero-width space
//! must not pass for "Admin", and a right-to-left override must not reverse the text
//! after a name.
//!
//! A small table instead of a Unicode database crate: it is compiled into the browser
//! app, whose download has a budget.

/// Format characters (general category Cf, Unicode 16) and the few other code points
/// that render as nothing (Hangul fillers, the combining grapheme joiner, Khmer inherent
/// vowels, Mongolian free variation selectors, the braille blank).
const INVISIBLE: &[(u32, u32)] = &[
    (0x00AD, 0x00AD),
    (0x034F, 0x034F),
    (0x0600, 0x0605),
    (0x061C, 0x061C),
    (0x06DD, 0x06DD),
    (0x070F, 0x070F),
    (0x0890, 0x0891),
    (0x08E2, 0x08E2),
    (0x115F, 0x1160),
    (0x17B4, 0x17B5),
    (0x180B, 0x180F),
    (0x200B, 0x200F),
    (0x202A, 0x202E),
    (0x2060, 0x2064),
    (0x2066, 0x206F),
    (0x2800, 0x2800),
    (0x3164, 0x3164),
    (0xFEFF, 0xFEFF),
    (0xFFA0, 0xFFA0),
    (0xFFF9, 0xFFFB),
    (0x110BD, 0x110BD),
    (0x110CD, 0x110CD),
    (0x13430, 0x1343F),
    (0x1BCA0, 0x1BCA3),
    (0x1D173, 0x1D17A),
    (0xE0001, 0xE0001),
    (0xE0020, 0xE007F),
];

/// Marks that combine with the character before them and draw nothing alone.
const COMBINING: &[(u32, u32)] = &[
    (0x0300, 0x036F),
    (0x0483, 0x0489),
    (0x1AB0, 0x1AFF),
    (0x1DC0, 0x1DFF),
    (0x20D0, 0x20FF),
    (0xFE00, 0xFE0F),
    (0xFE20, 0xFE2F),
    (0xE0100, 0xE01EF),
];

const ZERO_WIDTH_JOINER: char = '\u{200D}';

fn in_table(table: &[(u32, u32)], c: char) -> bool {
    let c = u32::from(c);
    table.iter().any(|&(lo, hi)| (lo..=hi).contains(&c))
}

/// Pictographs that a zero-width joiner may join into one emoji (👩‍💻).
fn is_pictograph(c: char) -> bool {
    matches!(u32::from(c), 0x2600..=0x27BF | 0x1F000..=0x1FAFF | 0xFE0F)
}

/// The first invisible or format character of `name`, if any. A zero-width joiner
/// between two pictographs is part of an emoji and allowed.
pub fn first_invisible(name: &str) -> Option<char> {
    let mut before = None;
    let mut chars = name.chars().peekable();
    while let Some(c) = chars.next() {
        let invisible = if c == ZERO_WIDTH_JOINER {
            !(before.is_some_and(is_pictograph) && chars.peek().copied().is_some_and(is_pictograph))
        } else {
            in_table(INVISIBLE, c)
        };
        if invisible {
            return Some(c);
        }
        before = Some(c);
    }
    None
}

/// Whether the character draws something by itself.
pub fn is_visible(c: char) -> bool {
    !(c.is_whitespace()
        || c.is_control()
        || c == ZERO_WIDTH_JOINER
        || in_table(INVISIBLE, c)
        || in_table(COMBINING, c))
}
