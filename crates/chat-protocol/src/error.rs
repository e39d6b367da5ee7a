//! Error codes of `error` frames. Clients act on the code; the message is for people.

use serde::{Deserialize, Serialize};
use std::fmt;

/// Why a frame was refused. The connection stays open after every one of these.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    /// Not JSON, or a field is missing or invalid.
    BadFrame,
    /// JSON with a `type` this protocol version does not know.
    UnknownType,
    /// A room name that is not valid.
    BadRoom,
    /// A private room that is not yours.
    Forbidden,
    /// `send` or `typing` to a room this connection has not joined.
    NotJoined,
    /// Text that is empty after trimming.
    Empty,
    /// Text longer than 4000 characters after trimming.
    TooLong,
    /// Too many frames too fast; the error carries `retry_ms`.
    RateLimited,
    /// A direct message to a user id the server does not know.
    NoSuchUser,
    /// A `send` to an anonymous pair that one side has left.
    RoomClosed,
    /// A per-connection limit was reached, such as the number of rooms joined.
    Limit,
    /// The server failed (for example its storage); nothing was stored.
    Internal,
}

impl ErrorCode {
    /// Every code, for exhaustive tests and metrics labels.
    pub const ALL: [ErrorCode; 12] = [
        ErrorCode::BadFrame,
        ErrorCode::UnknownType,
        ErrorCode::BadRoom,
        ErrorCode::Forbidden,
        ErrorCode::NotJoined,
        ErrorCode::Empty,
        ErrorCode::TooLong,
        ErrorCode::RateLimited,
        ErrorCode::NoSuchUser,
        ErrorCode::RoomClosed,
        ErrorCode::Limit,
        ErrorCode::Internal,
    ];

    /// The wire spelling, e.g. `bad_frame`.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorCode::BadFrame => "bad_frame",
            ErrorCode::UnknownType => "unknown_type",
            ErrorCode::BadRoom => "bad_room",
            ErrorCode::Forbidden => "forbidden",
            ErrorCode::NotJoined => "not_joined",
            ErrorCode::Empty => "empty",
            ErrorCode::TooLong => "too_long",
            ErrorCode::RateLimited => "rate_limited",
            ErrorCode::NoSuchUser => "no_such_user",
            ErrorCode::RoomClosed => "room_closed",
            ErrorCode::Limit => "limit",
            ErrorCode::Internal => "internal",
        }
    }
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}
