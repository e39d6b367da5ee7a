//! Frames the server sends.

use crate::{ErrorCode, Message, PrivateRoom, SystemEvent, User};
use serde::{Deserialize, Serialize};

/// A frame from the server to a client.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ServerFrame {
    /// First frame on every connection: who you are and how to come back as the same user.
    Welcome {
        user: User,
        session: String,
        rooms: Vec<PrivateRoom>,
        /// User ids this user blocked by id (blocks of an anonymous partner are not
        /// listed: that would reveal who it was).
        #[serde(default)]
        blocked: Vec<String>,
    },
    /// Reply to `join`: who is online and the history the client is missing.
    Joined {
        room: String,
        /// Everyone online, or in a big room the first [`crate::MAX_LISTED_MEMBERS`] by
        /// id (`GET /api/rooms/{room}/members` pages through the rest).
        members: Vec<User>,
        /// How many users are online in the room: `members.len()` unless the room is big.
        online: u32,
        history: Vec<Message>,
        more: bool,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        recovered: Option<bool>,
        /// In a `~pair` room: how this user appears there.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        you: Option<User>,
    },
    /// Reply to `leave`.
    Left { room: String },
    /// A stored message; `ref` is set only on the sender's own copy.
    Message {
        #[serde(flatten)]
        message: Message,
        #[serde(rename = "ref", default, skip_serializing_if = "Option::is_none")]
        client_ref: Option<String>,
    },
    /// A user's first connection joined the room, or its last one left.
    System {
        room: String,
        event: SystemEvent,
        user: User,
        ts: i64,
    },
    /// In a big room: the arrivals and departures of up to a second, at most one such
    /// frame per room per second (lists capped at [`crate::MAX_LISTED_MEMBERS`] each);
    /// `online` is the exact count after them.
    Presence {
        room: String,
        joined: Vec<User>,
        left: Vec<User>,
        online: u32,
    },
    /// Someone else started or stopped typing.
    Typing {
        room: String,
        user: User,
        active: bool,
    },
    /// Reply to `history`: older messages, oldest first.
    History {
        room: String,
        messages: Vec<Message>,
        more: bool,
    },
    /// Waiting for a partner.
    Queued,
    /// Reply to `unmatch`: no longer waiting.
    Unqueued,
    /// Paired with a stranger in a `~pair` room; a `joined` for it follows.
    Matched {
        room: String,
        /// The partner's alias.
        peer: User,
        /// This user's own alias in the pair.
        you: User,
        /// Interests both gave (lowercase), possibly none.
        common: Vec<String>,
    },
    /// Reply to `block`.
    Blocked {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        user: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        room: Option<String>,
        #[serde(rename = "ref", default, skip_serializing_if = "Option::is_none")]
        client_ref: Option<String>,
    },
    /// Reply to `unblock`.
    Unblocked {
        user: String,
        #[serde(rename = "ref", default, skip_serializing_if = "Option::is_none")]
        client_ref: Option<String>,
    },
    /// Reply to `report`: the moderators have it.
    Reported {
        room: String,
        #[serde(rename = "ref", default, skip_serializing_if = "Option::is_none")]
        client_ref: Option<String>,
    },
    /// A frame was refused; the connection stays open.
    Error {
        code: ErrorCode,
        message: String,
        #[serde(rename = "ref", default, skip_serializing_if = "Option::is_none")]
        client_ref: Option<String>,
        /// Set with `rate_limited`: how long to wait before trying again.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        retry_ms: Option<u64>,
    },
    /// Reply to `ping`.
    Pong,
}

impl ServerFrame {
    /// An `error` frame without `retry_ms`.
    pub fn error(code: ErrorCode, message: impl Into<String>, client_ref: Option<String>) -> Self {
        ServerFrame::Error {
            code,
            message: message.into(),
            client_ref,
            retry_ms: None,
        }
    }
}
