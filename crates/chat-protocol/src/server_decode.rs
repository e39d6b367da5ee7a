//! A small decoder for server frames, for clients that care about code size.
//!
//! The derived `Deserialize` of [`ServerFrame`] is correct but large: an internally tagged
//! enum with a flattened variant makes serde buffer every frame into its generic `Content`
//! tree and generate one big visitor over every field of every variant (33 KB of wasm,
//! the largest single function of the browser app). Here one pass notes where each known
//! field's JSON is (a borrowed [`RawValue`], no copying, no buffering), and only the
//! fields the frame's `type` needs are then decoded, each with the decoder of its own type.
//! Both decoders accept the same frames; the tests hold them to that.

use crate::{Message, ServerFrame};
use serde::de::{DeserializeOwned, Error as _, IgnoredAny, MapAccess, Visitor};
use serde::{Deserialize, Deserializer};
use serde_json::value::RawValue;
use std::borrow::Cow;
use std::fmt;

/// Decodes one server text frame; the same result as `serde_json::from_str::<ServerFrame>`.
pub fn decode_server_frame(text: &str) -> Result<ServerFrame, serde_json::Error> {
    let f: Fields<'_> = serde_json::from_str(text)?;
    let kind: Cow<'_, str> = f.need("type")?;
    Ok(match kind.as_ref() {
        "welcome" => ServerFrame::Welcome {
            user: f.need("user")?,
            session: f.need("session")?,
            rooms: f.need("rooms")?,
            blocked: f.optional("blocked")?.unwrap_or_default(),
        },
        "joined" => ServerFrame::Joined {
            room: f.need("room")?,
            members: f.need("members")?,
            online: f.need("online")?,
            history: f.need("history")?,
            more: f.need("more")?,
            recovered: f.optional("recovered")?,
            you: f.optional("you")?,
        },
        "left" => ServerFrame::Left {
            room: f.need("room")?,
        },
        "message" => ServerFrame::Message {
            message: Message {
                room: f.need("room")?,
                seq: f.need("seq")?,
                id: f.need("id")?,
                from: f.need("from")?,
                text: f.need("text")?,
                ts: f.need("ts")?,
            },
            client_ref: f.optional("ref")?,
        },
        "system" => ServerFrame::System {
            room: f.need("room")?,
            event: f.need("event")?,
            user: f.need("user")?,
            ts: f.need("ts")?,
        },
        "presence" => ServerFrame::Presence {
            room: f.need("room")?,
            joined: f.need("joined")?,
            left: f.need("left")?,
            online: f.need("online")?,
        },
        "typing" => ServerFrame::Typing {
            room: f.need("room")?,
            user: f.need("user")?,
            active: f.need("active")?,
        },
        "history" => ServerFrame::History {
            room: f.need("room")?,
            messages: f.need("messages")?,
            more: f.need("more")?,
        },
        "queued" => ServerFrame::Queued,
        "unqueued" => ServerFrame::Unqueued,
        "matched" => ServerFrame::Matched {
            room: f.need("room")?,
            peer: f.need("peer")?,
            you: f.need("you")?,
            common: f.need("common")?,
        },
        "blocked" => ServerFrame::Blocked {
            user: f.optional("user")?,
            room: f.optional("room")?,
            client_ref: f.optional("ref")?,
        },
        "unblocked" => ServerFrame::Unblocked {
            user: f.need("user")?,
            client_ref: f.optional("ref")?,
        },
        "reported" => ServerFrame::Reported {
            room: f.need("room")?,
            client_ref: f.optional("ref")?,
        },
        "error" => ServerFrame::Error {
            code: f.need("code")?,
            message: f.need("message")?,
            client_ref: f.optional("ref")?,
            retry_ms: f.optional("retry_ms")?,
        },
        "pong" => ServerFrame::Pong,
        other => return Err(serde_json::Error::unknown_variant(other, SERVER_TYPES)),
    })
}

/// The `type` values of [`ServerFrame`].
const SERVER_TYPES: &[&str] = &[
    "welcome",
    "joined",
    "left",
    "message",
    "system",
    "presence",
    "typing",
    "history",
    "queued",
    "unqueued",
    "matched",
    "blocked",
    "unblocked",
    "reported",
    "error",
    "pong",
];

/// The fields any server frame has, by position in [`Fields`].
const FIELD_NAMES: [&str; 28] = [
    "type",
    "user",
    "session",
    "rooms",
    "room",
    "members",
    "history",
    "more",
    "recovered",
    "seq",
    "id",
    "from",
    "text",
    "ts",
    "ref",
    "event",
    "active",
    "messages",
    "peer",
    "code",
    "message",
    "retry_ms",
    "you",
    "common",
    "blocked",
    "online",
    "joined",
    "left",
];

/// Where each known field's JSON sits in the text; fields of other frame types are not
/// looked at, and unknown ones are skipped. Written by hand rather than derived because a
/// derived struct also carries a decoder for the array form of itself, which no server
/// frame uses and which would double this, the app's largest function.
struct Fields<'a> {
    raw: [Option<&'a RawValue>; FIELD_NAMES.len()],
    /// Fields that appeared more than once, one bit per [`FIELD_NAMES`] entry. A repeated
    /// field is refused only when the frame's type reads it, as the derived decoder does
    /// (it ignores fields of other types, repeated or not).
    repeated: u32,
}

impl Fields<'_> {
    fn raw(&self, name: &'static str) -> Result<Option<&RawValue>, serde_json::Error> {
        let Some(index) = FIELD_NAMES.iter().position(|known| *known == name) else {
            return Ok(None);
        };
        if self.repeated & (1 << index) != 0 {
            return Err(serde_json::Error::duplicate_field(name));
        }
        Ok(self.raw[index])
    }

    /// A field every frame of this type has.
    fn need<T: DeserializeOwned>(&self, name: &'static str) -> Result<T, serde_json::Error> {
        let raw = self
            .raw(name)?
            .ok_or_else(|| serde_json::Error::missing_field(name))?;
        serde_json::from_str(raw.get())
    }

    /// A field that may be missing or `null`.
    fn optional<T: DeserializeOwned>(
        &self,
        name: &'static str,
    ) -> Result<Option<T>, serde_json::Error> {
        self.raw(name)?
            .map_or(Ok(None), |raw| serde_json::from_str(raw.get()))
    }
}

impl<'de> Deserialize<'de> for Fields<'de> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_map(FieldsVisitor)
    }
}

struct FieldsVisitor;

impl<'de> Visitor<'de> for FieldsVisitor {
    type Value = Fields<'de>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a server frame (a JSON object)")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut fields = Fields {
            raw: [None; FIELD_NAMES.len()],
            repeated: 0,
        };
        while let Some(FieldKey(index)) = map.next_key()? {
            let Some(index) = index else {
                map.next_value::<IgnoredAny>()?;
                continue;
            };
            if fields.raw[index].is_some() {
                fields.repeated |= 1 << index;
            }
            fields.raw[index] = Some(map.next_value()?);
        }
        Ok(fields)
    }
}

/// A key of a frame object: the index of a known field, or `None` for any other.
struct FieldKey(Option<usize>);

impl<'de> Deserialize<'de> for FieldKey {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_identifier(FieldKeyVisitor)
    }
}

struct FieldKeyVisitor;

impl Visitor<'_> for FieldKeyVisitor {
    type Value = FieldKey;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a field name")
    }

    fn visit_str<E: serde::de::Error>(self, key: &str) -> Result<FieldKey, E> {
        Ok(FieldKey(FIELD_NAMES.iter().position(|known| *known == key)))
    }
}
