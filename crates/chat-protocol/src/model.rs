//! The values frames are made of: users, messages and room descriptions.

use serde::{Deserialize, Serialize};

/// A person as others see them: a stable server-chosen id and a display name.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct User {
    pub id: String,
    pub name: String,
}

impl User {
    /// How a member of an anonymous pair appears to the other: an `anon_…` alias id
    /// and the name "Stranger", nothing of the person behind it.
    pub fn alias(id: &str) -> User {
        User {
            id: id.to_owned(),
            name: "Stranger".to_owned(),
        }
    }
}

/// A stored chat message; `seq` is gapless and strictly increasing within its room.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Message {
    pub room: String,
    pub seq: u64,
    /// Globally unique and time-ordered (a ULID), so clients can deduplicate.
    pub id: String,
    pub from: User,
    pub text: String,
    /// Unix time in milliseconds, assigned by the server.
    pub ts: i64,
}

/// What a `system` frame announces about a user's presence in a room.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SystemEvent {
    Join,
    Leave,
}

/// A private room the user belongs to, as listed in `welcome`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PrivateRoom {
    pub room: String,
    /// The other member: the real user of a direct conversation, the partner's alias in
    /// an anonymous pair.
    pub peer: User,
    pub last_seq: u64,
    /// In a pair: how this user appears there.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub you: Option<User>,
    /// In a pair: whether it is still open (a closed pair's history stays readable).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub open: Option<bool>,
}

/// One row of `GET /api/rooms`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RoomSummary {
    pub room: String,
    pub online: u32,
    pub last_seq: u64,
    /// Time of the last message, or `None` for a room with nothing stored yet.
    pub last_ts: Option<i64>,
}

/// The kinds of room a valid name denotes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RoomKind<'a> {
    /// Anyone may join and list it.
    Public,
    /// A direct conversation between two user ids (sorted).
    Direct { a: &'a str, b: &'a str },
    /// An anonymous pair created by matching.
    Pair { id: &'a str },
}

impl RoomKind<'_> {
    /// Private rooms are created by the server and are visible only to their members.
    pub fn is_private(&self) -> bool {
        !matches!(self, RoomKind::Public)
    }
}
