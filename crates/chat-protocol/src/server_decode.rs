//! A small decoder for server frames, for clients that care about code size.
//!
//! The derived `Deserialize` of [`ServerFrame`] is correct but large: an internally tagged
//! enum with a flattened variant makes serde buffer every frame into its generic `Content`
//! tree and generate one big visitor over every field of every variant (33 KB of wasm,
//! the largest single function of the browser app). Reading the `type` first and then
//! decoding the text again into a plain struct for just that variant needs no buffering,
//! and each plain struct costs little. It parses the text twice, which is cheap at chat
//! frame sizes. Both decoders accept the same frames; the tests hold them to that.

use crate::{ErrorCode, Message, PrivateRoom, ServerFrame, SystemEvent, User};
use serde::Deserialize;
use serde::de::DeserializeOwned;
use std::borrow::Cow;

/// Decodes one server text frame; the same result as `serde_json::from_str::<ServerFrame>`.
pub fn decode_server_frame(text: &str) -> Result<ServerFrame, serde_json::Error> {
    let tag: Tag<'_> = serde_json::from_str(text)?;
    Ok(match tag.kind.as_ref() {
        "welcome" => fields::<Welcome>(text)?.into(),
        "joined" => fields::<Joined>(text)?.into(),
        "left" => ServerFrame::Left {
            room: fields::<RoomOnly>(text)?.room,
        },
        "message" => fields::<MessageFields>(text)?.into(),
        "system" => fields::<System>(text)?.into(),
        "typing" => fields::<Typing>(text)?.into(),
        "history" => fields::<History>(text)?.into(),
        "queued" => ServerFrame::Queued,
        "matched" => fields::<Matched>(text)?.into(),
        "error" => fields::<ErrorFields>(text)?.into(),
        "pong" => ServerFrame::Pong,
        other => {
            return Err(serde::de::Error::unknown_variant(other, SERVER_TYPES));
        }
    })
}

/// The `type` values of [`ServerFrame`].
const SERVER_TYPES: &[&str] = &[
    "welcome", "joined", "left", "message", "system", "typing", "history", "queued", "matched",
    "error", "pong",
];

fn fields<T: DeserializeOwned>(text: &str) -> Result<T, serde_json::Error> {
    serde_json::from_str(text)
}

/// Only the tag; every other field is skipped without being built.
#[derive(Deserialize)]
struct Tag<'a> {
    #[serde(rename = "type", borrow)]
    kind: Cow<'a, str>,
}

#[derive(Deserialize)]
struct Welcome {
    user: User,
    session: String,
    rooms: Vec<PrivateRoom>,
}

impl From<Welcome> for ServerFrame {
    fn from(f: Welcome) -> Self {
        ServerFrame::Welcome {
            user: f.user,
            session: f.session,
            rooms: f.rooms,
        }
    }
}

#[derive(Deserialize)]
struct Joined {
    room: String,
    members: Vec<User>,
    history: Vec<Message>,
    more: bool,
    #[serde(default)]
    recovered: Option<bool>,
}

impl From<Joined> for ServerFrame {
    fn from(f: Joined) -> Self {
        ServerFrame::Joined {
            room: f.room,
            members: f.members,
            history: f.history,
            more: f.more,
            recovered: f.recovered,
        }
    }
}

#[derive(Deserialize)]
struct RoomOnly {
    room: String,
}

/// A `message` frame: the message's own fields side by side with `type` and `ref`.
#[derive(Deserialize)]
struct MessageFields {
    room: String,
    seq: u64,
    id: String,
    from: User,
    text: String,
    ts: i64,
    #[serde(rename = "ref", default)]
    client_ref: Option<String>,
}

impl From<MessageFields> for ServerFrame {
    fn from(f: MessageFields) -> Self {
        ServerFrame::Message {
            message: Message {
                room: f.room,
                seq: f.seq,
                id: f.id,
                from: f.from,
                text: f.text,
                ts: f.ts,
            },
            client_ref: f.client_ref,
        }
    }
}

#[derive(Deserialize)]
struct System {
    room: String,
    event: SystemEvent,
    user: User,
    ts: i64,
}

impl From<System> for ServerFrame {
    fn from(f: System) -> Self {
        ServerFrame::System {
            room: f.room,
            event: f.event,
            user: f.user,
            ts: f.ts,
        }
    }
}

#[derive(Deserialize)]
struct Typing {
    room: String,
    user: User,
    active: bool,
}

impl From<Typing> for ServerFrame {
    fn from(f: Typing) -> Self {
        ServerFrame::Typing {
            room: f.room,
            user: f.user,
            active: f.active,
        }
    }
}

#[derive(Deserialize)]
struct History {
    room: String,
    messages: Vec<Message>,
    more: bool,
}

impl From<History> for ServerFrame {
    fn from(f: History) -> Self {
        ServerFrame::History {
            room: f.room,
            messages: f.messages,
            more: f.more,
        }
    }
}

#[derive(Deserialize)]
struct Matched {
    room: String,
    peer: User,
}

impl From<Matched> for ServerFrame {
    fn from(f: Matched) -> Self {
        ServerFrame::Matched {
            room: f.room,
            peer: f.peer,
        }
    }
}

#[derive(Deserialize)]
struct ErrorFields {
    code: ErrorCode,
    message: String,
    #[serde(rename = "ref", default)]
    client_ref: Option<String>,
    #[serde(default)]
    retry_ms: Option<u64>,
}

impl From<ErrorFields> for ServerFrame {
    fn from(f: ErrorFields) -> Self {
        ServerFrame::Error {
            code: f.code,
            message: f.message,
            client_ref: f.client_ref,
            retry_ms: f.retry_ms,
        }
    }
}
