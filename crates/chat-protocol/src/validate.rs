//! The protocol's field rules, as functions both the server and clients call.
//!
//! Lengths are counted in Unicode scalar values (`char`s), the way people count
//! characters, never in bytes.

use crate::{ErrorCode, MAX_HISTORY_LIMIT, RoomKind};
use std::fmt;

/// Longest display name, in characters after trimming.
pub const MAX_NAME_CHARS: usize = 32;
/// Longest message text, in characters after trimming.
pub const MAX_TEXT_CHARS: usize = 4000;
/// Longest client `ref`, in characters.
pub const MAX_REF_CHARS: usize = 64;
/// Longest public room name.
pub const MAX_ROOM_CHARS: usize = 64;
/// Longest user id. Ids are embedded in private room names, so they are kept short and
/// free of the `.` separator.
pub const MAX_USER_ID_CHARS: usize = 64;

/// A refused input: the error code a client acts on and a sentence a person reads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    pub code: ErrorCode,
    pub message: String,
}

impl Refusal {
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        Refusal {
            code,
            message: message.into(),
        }
    }
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.code, self.message)
    }
}

impl std::error::Error for Refusal {}

/// A display name: normalized to NFC (with the `nfc` feature; without it the caller
/// passes NFC text, as the browser does with `String.prototype.normalize`), then 1-32
/// characters after trimming, with no control characters, no bidi controls, zero-width
/// or other invisible format characters, and at least one character that is visible.
/// Returns the name as it is to be stored.
pub fn display_name(raw: &str) -> Result<String, Refusal> {
    #[cfg(feature = "nfc")]
    let normalized: String = unicode_normalization::UnicodeNormalization::nfc(raw).collect();
    #[cfg(not(feature = "nfc"))]
    let normalized = raw;
    let name = normalized.trim();
    let chars = name.chars().count();
    if chars == 0 {
        return Err(Refusal::new(ErrorCode::BadFrame, "name is empty"));
    }
    if chars > MAX_NAME_CHARS {
        return Err(Refusal::new(
            ErrorCode::BadFrame,
            format!("name is longer than {MAX_NAME_CHARS} characters"),
        ));
    }
    if name.chars().any(char::is_control) {
        return Err(Refusal::new(
            ErrorCode::BadFrame,
            "name contains control characters",
        ));
    }
    if crate::invisible::first_invisible(name).is_some() {
        return Err(Refusal::new(
            ErrorCode::BadFrame,
            "name contains an invisible or formatting character",
        ));
    }
    if !name.chars().any(crate::invisible::is_visible) {
        return Err(Refusal::new(
            ErrorCode::BadFrame,
            "name has nothing visible in it",
        ));
    }
    Ok(name.to_owned())
}

/// Message text: 1-4000 characters after trimming, with no control characters but
/// newline and tab (a NUL or a terminal escape sequence has no place in a chat message).
/// Returns the trimmed text, which is what the server stores.
pub fn text(raw: &str) -> Result<&str, Refusal> {
    let text = raw.trim();
    if text.is_empty() {
        return Err(Refusal::new(ErrorCode::Empty, "text is empty"));
    }
    // Byte length bounds the char count from above: skip counting for short texts.
    if text.len() > MAX_TEXT_CHARS && text.chars().count() > MAX_TEXT_CHARS {
        return Err(Refusal::new(
            ErrorCode::TooLong,
            format!("text is longer than {MAX_TEXT_CHARS} characters"),
        ));
    }
    if has_control_but_newline_or_tab(text) {
        return Err(Refusal::new(
            ErrorCode::BadFrame,
            "text contains a control character; only newline and tab are allowed",
        ));
    }
    Ok(text)
}

/// Whether `s` holds a control character other than newline and tab: free text may
/// span lines and be indented, but a NUL or a terminal escape has no place in it.
fn has_control_but_newline_or_tab(s: &str) -> bool {
    s.chars().any(|c| c.is_control() && c != '\n' && c != '\t')
}

/// A client `ref`: any string of at most 64 characters.
pub fn client_ref(r: &str) -> Result<(), Refusal> {
    if r.len() > MAX_REF_CHARS && r.chars().count() > MAX_REF_CHARS {
        return Err(Refusal::new(
            ErrorCode::BadFrame,
            format!("ref is longer than {MAX_REF_CHARS} characters"),
        ));
    }
    Ok(())
}

/// A `history` limit: 1-200, 50 when absent.
pub fn history_limit(limit: Option<u32>) -> Result<usize, Refusal> {
    match limit {
        None => Ok(crate::DEFAULT_HISTORY),
        Some(n @ 1..=MAX_HISTORY_LIMIT) => Ok(n as usize),
        Some(n) => Err(Refusal::new(
            ErrorCode::BadFrame,
            format!("limit {n} is outside 1-{MAX_HISTORY_LIMIT}"),
        )),
    }
}

/// A members page's `limit`: 1-100, 100 when absent.
pub fn members_limit(limit: Option<u32>) -> Result<usize, Refusal> {
    let most = crate::MAX_LISTED_MEMBERS;
    match limit {
        None => Ok(most),
        Some(n) if (1..=most).contains(&(n as usize)) => Ok(n as usize),
        Some(n) => Err(Refusal::new(
            ErrorCode::BadFrame,
            format!("limit {n} is outside 1-{most}"),
        )),
    }
}

/// Most interests one `match` may carry.
pub const MAX_INTERESTS: usize = 5;
/// Longest interest tag, in characters.
pub const MAX_INTEREST_CHARS: usize = 32;
/// Longest report reason, in characters after trimming.
pub const MAX_REASON_CHARS: usize = 500;

/// The interests of a `match`: at most 5 tags of 1-32 letters, digits, `-` or `_`.
/// Tags compare case-insensitively, so they are returned lowercased, without repeats,
/// in the order given.
pub fn interests(tags: &[String]) -> Result<Vec<String>, Refusal> {
    if tags.len() > MAX_INTERESTS {
        return Err(Refusal::new(
            ErrorCode::BadFrame,
            format!("at most {MAX_INTERESTS} interests"),
        ));
    }
    let mut normalized: Vec<String> = Vec::with_capacity(tags.len());
    for tag in tags {
        let valid = !tag.is_empty()
            && tag.len() <= MAX_INTEREST_CHARS
            && tag
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
        if !valid {
            return Err(Refusal::new(
                ErrorCode::BadFrame,
                format!("interest {tag:?} is not 1-{MAX_INTEREST_CHARS} of A-Z, a-z, 0-9, - and _"),
            ));
        }
        let tag = tag.to_ascii_lowercase();
        if !normalized.contains(&tag) {
            normalized.push(tag);
        }
    }
    Ok(normalized)
}

/// A report's reason: 1-500 characters after trimming, no control characters but
/// newline and tab. Returns the trimmed reason.
pub fn report_reason(raw: &str) -> Result<&str, Refusal> {
    let reason = raw.trim();
    if reason.is_empty() {
        return Err(Refusal::new(ErrorCode::BadFrame, "reason is empty"));
    }
    if reason.len() > MAX_REASON_CHARS && reason.chars().count() > MAX_REASON_CHARS {
        return Err(Refusal::new(
            ErrorCode::BadFrame,
            format!("reason is longer than {MAX_REASON_CHARS} characters"),
        ));
    }
    if has_control_but_newline_or_tab(reason) {
        return Err(Refusal::new(
            ErrorCode::BadFrame,
            "reason contains a control character",
        ));
    }
    Ok(reason)
}

/// A user id: 1-64 of `A-Z a-z 0-9 _ -`.
pub fn user_id(id: &str) -> Result<(), Refusal> {
    let ok = !id.is_empty()
        && id.len() <= MAX_USER_ID_CHARS
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
    if ok {
        Ok(())
    } else {
        Err(Refusal::new(
            ErrorCode::BadFrame,
            "a user id is 1-64 of A-Z, a-z, 0-9, _ and -",
        ))
    }
}

/// A room name, and which kind of room it denotes.
///
/// Public: `^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$`. Private (server-made): `~dm.<a>.<b>` with
/// two different user ids in sorted order, or `~pair.<id>`.
pub fn room(name: &str) -> Result<RoomKind<'_>, Refusal> {
    if let Some(rest) = name.strip_prefix('~') {
        return private_room(rest).ok_or_else(|| {
            Refusal::new(
                ErrorCode::BadRoom,
                format!("\"{name}\" is not a valid private room name"),
            )
        });
    }
    let bytes = name.as_bytes();
    let valid = match bytes.split_first() {
        Some((first, rest)) => {
            first.is_ascii_alphanumeric()
                && rest.len() < MAX_ROOM_CHARS
                && rest
                    .iter()
                    .all(|&b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-'))
        }
        None => false,
    };
    if valid {
        Ok(RoomKind::Public)
    } else {
        Err(Refusal::new(
            ErrorCode::BadRoom,
            "a room name is 1-64 of A-Z, a-z, 0-9, _, . and -, starting with a letter or digit",
        ))
    }
}

fn private_room(rest: &str) -> Option<RoomKind<'_>> {
    if let Some(ids) = rest.strip_prefix("dm.") {
        let (a, b) = ids.split_once('.')?;
        (user_id(a).is_ok() && user_id(b).is_ok() && a < b).then_some(RoomKind::Direct { a, b })
    } else {
        let id = rest.strip_prefix("pair.")?;
        user_id(id).is_ok().then_some(RoomKind::Pair { id })
    }
}

/// The canonical room name of the direct conversation between two users.
pub fn direct_room(a: &str, b: &str) -> String {
    let (lo, hi) = if a <= b { (a, b) } else { (b, a) };
    format!("~dm.{lo}.{hi}")
}
