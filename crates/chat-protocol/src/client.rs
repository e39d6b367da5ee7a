//! Frames a client sends, and their decoding with the right error code for bad input.

use crate::ErrorCode;
use crate::validate::{self, Refusal};
use serde::{Deserialize, Serialize};

/// A frame from a client to the server.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ClientFrame {
    /// Subscribe to a room; `since` asks for everything after that seq.
    Join {
        room: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        since: Option<u64>,
    },
    /// Unsubscribe from a room.
    Leave { room: String },
    /// Post a message to a joined room.
    Send {
        room: String,
        text: String,
        #[serde(rename = "ref", default, skip_serializing_if = "Option::is_none")]
        client_ref: Option<String>,
    },
    /// Tell the room's other members that this user is (or stopped) typing.
    Typing { room: String, active: bool },
    /// A direct message to another user.
    Dm {
        to: String,
        text: String,
        #[serde(rename = "ref", default, skip_serializing_if = "Option::is_none")]
        client_ref: Option<String>,
    },
    /// Page back through a room's history from `before` (exclusive).
    History {
        room: String,
        before: u64,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        limit: Option<u32>,
    },
    /// Queue for an anonymous one-to-one chat, preferring a partner who shares one of
    /// `interests`; during an open pair it closes that pair first ("next").
    Match {
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        interests: Vec<String>,
    },
    /// Leave the pairing queue.
    Unmatch,
    /// Block a user by id, or the partner of one of your `~pair` rooms (whose id you do
    /// not know): exactly one of `user` and `room`.
    Block {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        user: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        room: Option<String>,
        #[serde(rename = "ref", default, skip_serializing_if = "Option::is_none")]
        client_ref: Option<String>,
    },
    /// Lift a block on a user id.
    Unblock {
        user: String,
        #[serde(rename = "ref", default, skip_serializing_if = "Option::is_none")]
        client_ref: Option<String>,
    },
    /// Report a room's conversation to the moderators.
    Report {
        room: String,
        reason: String,
        #[serde(rename = "ref", default, skip_serializing_if = "Option::is_none")]
        client_ref: Option<String>,
    },
    /// Ask for a `pong`.
    Ping,
}

/// The `type` values of [`ClientFrame`], to tell `unknown_type` from `bad_frame`.
const CLIENT_TYPES: [&str; 12] = [
    "join", "leave", "send", "typing", "dm", "history", "match", "unmatch", "block", "unblock",
    "report", "ping",
];

/// A text frame that could not become a valid [`ClientFrame`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FrameDecodeError {
    pub code: ErrorCode,
    pub message: String,
    /// The frame's `ref`, when it had a usable one, so the client can match the error.
    pub client_ref: Option<String>,
}

/// Only the fields needed to classify a frame that failed to decode.
#[derive(Deserialize)]
struct Envelope {
    #[serde(rename = "type", default)]
    kind: Option<serde_json::Value>,
    #[serde(rename = "ref", default)]
    client_ref: Option<serde_json::Value>,
}

/// Decodes and validates one text frame.
///
/// Field rules (room names, text length, `ref` length, history limit) are checked here,
/// so a frame that decodes is well-formed; whether the sender may act on the room is the
/// server's decision.
pub fn decode_client_frame(text: &str) -> Result<ClientFrame, FrameDecodeError> {
    match serde_json::from_str::<ClientFrame>(text) {
        Ok(frame) => match frame.check() {
            Ok(()) => Ok(frame),
            Err(refusal) => Err(FrameDecodeError {
                code: refusal.code,
                message: refusal.message,
                client_ref: frame
                    .client_ref()
                    .filter(|r| validate::client_ref(r).is_ok())
                    .map(str::to_owned),
            }),
        },
        Err(err) => Err(classify_failure(text, err)),
    }
}

fn classify_failure(text: &str, err: serde_json::Error) -> FrameDecodeError {
    let Ok(envelope) = serde_json::from_str::<Envelope>(text) else {
        return FrameDecodeError {
            code: ErrorCode::BadFrame,
            message: "a frame must be one JSON object".to_owned(),
            client_ref: None,
        };
    };
    let client_ref = match envelope.client_ref {
        Some(serde_json::Value::String(r)) if validate::client_ref(&r).is_ok() => Some(r),
        _ => None,
    };
    let (code, message) = match envelope.kind {
        None => (ErrorCode::BadFrame, "missing \"type\"".to_owned()),
        Some(serde_json::Value::String(kind)) if !CLIENT_TYPES.contains(&kind.as_str()) => (
            ErrorCode::UnknownType,
            format!("unknown frame type {kind:?}"),
        ),
        Some(serde_json::Value::String(_)) => (ErrorCode::BadFrame, err.to_string()),
        Some(_) => (ErrorCode::BadFrame, "\"type\" must be a string".to_owned()),
    };
    FrameDecodeError {
        code,
        message,
        client_ref,
    }
}

impl ClientFrame {
    /// The `ref` the client attached, if this kind of frame carries one.
    pub fn client_ref(&self) -> Option<&str> {
        match self {
            ClientFrame::Send { client_ref, .. }
            | ClientFrame::Dm { client_ref, .. }
            | ClientFrame::Block { client_ref, .. }
            | ClientFrame::Unblock { client_ref, .. }
            | ClientFrame::Report { client_ref, .. } => client_ref.as_deref(),
            _ => None,
        }
    }

    /// Checks every field rule of the protocol that needs no server state.
    pub fn check(&self) -> Result<(), Refusal> {
        if let Some(r) = self.client_ref() {
            validate::client_ref(r)?;
        }
        match self {
            ClientFrame::Join { room, .. }
            | ClientFrame::Leave { room }
            | ClientFrame::Typing { room, .. } => validate::room(room).map(drop),
            ClientFrame::Send { room, text, .. } => {
                validate::room(room)?;
                validate::text(text).map(drop)
            }
            ClientFrame::Dm { to, text, .. } => {
                validate::user_id(to)?;
                validate::text(text).map(drop)
            }
            ClientFrame::History { room, limit, .. } => {
                validate::room(room)?;
                validate::history_limit(*limit).map(drop)
            }
            ClientFrame::Match { interests } => validate::interests(interests).map(drop),
            ClientFrame::Block { user, room, .. } => match (user, room) {
                (Some(user), None) => validate::user_id(user),
                (None, Some(room)) => match validate::room(room)? {
                    crate::RoomKind::Pair { .. } => Ok(()),
                    _ => Err(Refusal::new(
                        ErrorCode::BadRoom,
                        "only a ~pair room can be blocked; block anyone else by user id",
                    )),
                },
                _ => Err(Refusal::new(
                    ErrorCode::BadFrame,
                    "block needs exactly one of \"user\" and \"room\"",
                )),
            },
            ClientFrame::Unblock { user, .. } => validate::user_id(user),
            ClientFrame::Report { room, reason, .. } => {
                validate::room(room)?;
                validate::report_reason(reason).map(drop)
            }
            ClientFrame::Unmatch | ClientFrame::Ping => Ok(()),
        }
    }
}
