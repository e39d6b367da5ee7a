//! A codec for clients that care about code size: frames from and to JSON without serde.
//!
//! The browser app parses JSON with the browser's own `JSON.parse` and reads the result
//! through [`JsonView`]; it writes frames with [`ClientFrame::to_json`]. Linking no serde
//! code at all keeps a sixth of its download off the wire. The shapes here are those of
//! the serde derives (the reference, which the server uses); the tests hold the two to
//! the same frames, every field of every type, through `serde_json::Value` as the view.

use crate::{
    ClientFrame, ErrorCode, Message, PrivateRoom, RoomSummary, ServerFrame, SystemEvent, User,
};

/// Read access to a parsed JSON value, whatever parsed it.
pub trait JsonView: Sized {
    /// The member `key` of an object (`None` when missing, or when this is no object).
    fn field(&self, key: &str) -> Option<Self>;
    fn string(&self) -> Option<String>;
    fn number(&self) -> Option<f64>;
    fn boolean(&self) -> Option<bool>;
    /// The elements of an array.
    fn items(&self) -> Option<Vec<Self>>;
    fn is_null(&self) -> bool;
}

/// `serde_json`'s own values: what the tests and the fuzz targets hold the codec to the
/// serde shapes with (the browser app has its own view over `JSON.parse`).
impl JsonView for serde_json::Value {
    fn field(&self, key: &str) -> Option<Self> {
        self.as_object()?.get(key).cloned()
    }
    fn string(&self) -> Option<String> {
        self.as_str().map(str::to_owned)
    }
    fn number(&self) -> Option<f64> {
        self.as_f64()
    }
    fn boolean(&self) -> Option<bool> {
        self.as_bool()
    }
    fn items(&self) -> Option<Vec<Self>> {
        self.as_array().cloned()
    }
    fn is_null(&self) -> bool {
        serde_json::Value::is_null(self)
    }
}

/// Largest integer an `f64` holds exactly; larger numbers are not valid seqs or times.
const MAX_EXACT: f64 = 9_007_199_254_740_992.0;

/// A number that is a whole one an `f64` holds exactly.
fn whole(n: f64) -> Option<f64> {
    (n.abs() <= MAX_EXACT && n.fract() == 0.0).then_some(n)
}

fn uint_value<V: JsonView>(v: &V) -> Option<u64> {
    whole(v.number()?).filter(|n| *n >= 0.0).map(|n| n as u64)
}

fn int_value<V: JsonView>(v: &V) -> Option<i64> {
    whole(v.number()?).map(|n| n as i64)
}

fn uint<V: JsonView>(v: &V, key: &str) -> Option<u64> {
    uint_value(&v.field(key)?)
}

/// A count that fits the `u32` the frames use.
fn count<V: JsonView>(v: &V, key: &str) -> Option<u32> {
    u32::try_from(uint(v, key)?).ok()
}

fn int<V: JsonView>(v: &V, key: &str) -> Option<i64> {
    int_value(&v.field(key)?)
}

fn string<V: JsonView>(v: &V, key: &str) -> Option<String> {
    v.field(key)?.string()
}

fn boolean<V: JsonView>(v: &V, key: &str) -> Option<bool> {
    v.field(key)?.boolean()
}

/// A field that may be missing or `null`; `Err` when present but malformed.
fn optional<V: JsonView, T>(
    v: &V,
    key: &str,
    read: impl Fn(&V) -> Option<T>,
) -> Result<Option<T>, ()> {
    match v.field(key) {
        None => Ok(None),
        Some(value) if value.is_null() => Ok(None),
        Some(value) => read(&value).map(Some).ok_or(()),
    }
}

fn list<V: JsonView, T>(v: &V, key: &str, read: impl Fn(&V) -> Option<T>) -> Option<Vec<T>> {
    v.field(key)?.items()?.iter().map(read).collect()
}

fn strings<V: JsonView>(v: &V, key: &str) -> Option<Vec<String>> {
    list(v, key, V::string)
}

fn user<V: JsonView>(v: &V) -> Option<User> {
    Some(User {
        id: string(v, "id")?,
        name: string(v, "name")?,
    })
}

fn user_at<V: JsonView>(v: &V, key: &str) -> Option<User> {
    user(&v.field(key)?)
}

fn message<V: JsonView>(v: &V) -> Option<Message> {
    Some(Message {
        room: string(v, "room")?,
        seq: uint(v, "seq")?,
        id: string(v, "id")?,
        from: user_at(v, "from")?,
        text: string(v, "text")?,
        ts: int(v, "ts")?,
    })
}

fn private_room<V: JsonView>(v: &V) -> Option<PrivateRoom> {
    Some(PrivateRoom {
        room: string(v, "room")?,
        peer: user_at(v, "peer")?,
        last_seq: uint(v, "last_seq")?,
        you: optional(v, "you", user).ok()?,
        open: optional(v, "open", V::boolean).ok()?,
    })
}

fn room_summary<V: JsonView>(v: &V) -> Option<RoomSummary> {
    Some(RoomSummary {
        room: string(v, "room")?,
        online: u32::try_from(uint(v, "online")?).ok()?,
        last_seq: uint(v, "last_seq")?,
        last_ts: optional(v, "last_ts", int_value).ok()?,
    })
}

/// The body of `GET /api/rooms/{room}/members`: the page, the room's count, whether
/// more follow.
pub fn member_page_from_json<V: JsonView>(v: &V) -> Option<(Vec<User>, u32, bool)> {
    Some((
        list(v, "members", user)?,
        count(v, "online")?,
        boolean(v, "more")?,
    ))
}

/// The body of `GET /api/rooms`.
pub fn rooms_from_json<V: JsonView>(v: &V) -> Option<Vec<RoomSummary>> {
    v.items()?.iter().map(room_summary).collect()
}

/// A server frame from its parsed JSON; `None` for anything that is not a valid frame.
pub fn frame_from_json<V: JsonView>(v: &V) -> Option<ServerFrame> {
    let opt = |key: &str| optional(v, key, V::string).ok();
    Some(match string(v, "type")?.as_str() {
        "welcome" => ServerFrame::Welcome {
            user: user_at(v, "user")?,
            session: string(v, "session")?,
            rooms: list(v, "rooms", private_room)?,
            blocked: optional(v, "blocked", |b| b.items()?.iter().map(V::string).collect())
                .ok()?
                .unwrap_or_default(),
        },
        "joined" => ServerFrame::Joined {
            room: string(v, "room")?,
            members: list(v, "members", user)?,
            online: count(v, "online")?,
            history: list(v, "history", message)?,
            more: boolean(v, "more")?,
            recovered: optional(v, "recovered", V::boolean).ok()?,
            you: optional(v, "you", user).ok()?,
        },
        "left" => ServerFrame::Left {
            room: string(v, "room")?,
        },
        "message" => ServerFrame::Message {
            message: message(v)?,
            client_ref: opt("ref")?,
        },
        "system" => ServerFrame::System {
            room: string(v, "room")?,
            event: match string(v, "event")?.as_str() {
                "join" => SystemEvent::Join,
                "leave" => SystemEvent::Leave,
                _ => return None,
            },
            user: user_at(v, "user")?,
            ts: int(v, "ts")?,
        },
        "presence" => ServerFrame::Presence {
            room: string(v, "room")?,
            joined: list(v, "joined", user)?,
            left: list(v, "left", user)?,
            online: count(v, "online")?,
        },
        "typing" => ServerFrame::Typing {
            room: string(v, "room")?,
            user: user_at(v, "user")?,
            active: boolean(v, "active")?,
        },
        "history" => ServerFrame::History {
            room: string(v, "room")?,
            messages: list(v, "messages", message)?,
            more: boolean(v, "more")?,
        },
        "queued" => ServerFrame::Queued,
        "unqueued" => ServerFrame::Unqueued,
        "matched" => ServerFrame::Matched {
            room: string(v, "room")?,
            peer: user_at(v, "peer")?,
            you: user_at(v, "you")?,
            common: strings(v, "common")?,
        },
        "blocked" => ServerFrame::Blocked {
            user: opt("user")?,
            room: opt("room")?,
            client_ref: opt("ref")?,
        },
        "unblocked" => ServerFrame::Unblocked {
            user: string(v, "user")?,
            client_ref: opt("ref")?,
        },
        "reported" => ServerFrame::Reported {
            room: string(v, "room")?,
            client_ref: opt("ref")?,
        },
        "error" => ServerFrame::Error {
            code: ErrorCode::from_wire(&string(v, "code")?)?,
            message: string(v, "message")?,
            client_ref: opt("ref")?,
            retry_ms: optional(v, "retry_ms", |n| {
                int_value(n).and_then(|n| u64::try_from(n).ok())
            })
            .ok()?,
        },
        "pong" => ServerFrame::Pong,
        _ => return None,
    })
}

/// Writes JSON text by hand: objects of string, number, bool and string-list fields.
struct Writer(String);

impl Writer {
    fn new(kind: &str) -> Writer {
        let mut w = Writer(String::with_capacity(64));
        w.0.push_str("{\"type\":");
        w.quoted(kind);
        w
    }

    fn quoted(&mut self, s: &str) {
        self.0.push('"');
        for c in s.chars() {
            match c {
                '"' => self.0.push_str("\\\""),
                '\\' => self.0.push_str("\\\\"),
                '\n' => self.0.push_str("\\n"),
                '\r' => self.0.push_str("\\r"),
                '\t' => self.0.push_str("\\t"),
                '\u{8}' => self.0.push_str("\\b"),
                '\u{c}' => self.0.push_str("\\f"),
                c if u32::from(c) < 0x20 => {
                    self.0.push_str("\\u00");
                    let hex = b"0123456789abcdef";
                    self.0.push(char::from(hex[(u32::from(c) >> 4) as usize]));
                    self.0.push(char::from(hex[(u32::from(c) & 15) as usize]));
                }
                c => self.0.push(c),
            }
        }
        self.0.push('"');
    }

    fn key(&mut self, key: &str) {
        self.0.push(',');
        self.quoted(key);
        self.0.push(':');
    }

    fn str(mut self, key: &str, value: &str) -> Writer {
        self.key(key);
        self.quoted(value);
        self
    }

    fn opt_str(self, key: &str, value: Option<&str>) -> Writer {
        match value {
            Some(value) => self.str(key, value),
            None => self,
        }
    }

    fn raw(mut self, key: &str, value: &str) -> Writer {
        self.key(key);
        self.0.push_str(value);
        self
    }

    fn opt_num(self, key: &str, value: Option<u64>) -> Writer {
        match value {
            Some(n) => self.raw(key, &n.to_string()),
            None => self,
        }
    }

    fn list(mut self, key: &str, values: &[String]) -> Writer {
        if values.is_empty() {
            return self;
        }
        self.key(key);
        self.0.push('[');
        for (i, value) in values.iter().enumerate() {
            if i > 0 {
                self.0.push(',');
            }
            self.quoted(value);
        }
        self.0.push(']');
        self
    }

    fn done(mut self) -> String {
        self.0.push('}');
        self.0
    }
}

impl ClientFrame {
    /// The frame's JSON text: the same as `serde_json::to_string`, without serde.
    pub fn to_json(&self) -> String {
        match self {
            ClientFrame::Join { room, since } => Writer::new("join")
                .str("room", room)
                .opt_num("since", *since),
            ClientFrame::Leave { room } => Writer::new("leave").str("room", room),
            ClientFrame::Send {
                room,
                text,
                client_ref,
            } => Writer::new("send")
                .str("room", room)
                .str("text", text)
                .opt_str("ref", client_ref.as_deref()),
            ClientFrame::Typing { room, active } => Writer::new("typing")
                .str("room", room)
                .raw("active", if *active { "true" } else { "false" }),
            ClientFrame::Dm {
                to,
                text,
                client_ref,
            } => Writer::new("dm")
                .str("to", to)
                .str("text", text)
                .opt_str("ref", client_ref.as_deref()),
            ClientFrame::History {
                room,
                before,
                limit,
            } => Writer::new("history")
                .str("room", room)
                .raw("before", &before.to_string())
                .opt_num("limit", limit.map(u64::from)),
            ClientFrame::Match { interests } => Writer::new("match").list("interests", interests),
            ClientFrame::Unmatch => Writer::new("unmatch"),
            ClientFrame::Block {
                user,
                room,
                client_ref,
            } => Writer::new("block")
                .opt_str("user", user.as_deref())
                .opt_str("room", room.as_deref())
                .opt_str("ref", client_ref.as_deref()),
            ClientFrame::Unblock { user, client_ref } => Writer::new("unblock")
                .str("user", user)
                .opt_str("ref", client_ref.as_deref()),
            ClientFrame::Report {
                room,
                reason,
                client_ref,
            } => Writer::new("report")
                .str("room", room)
                .str("reason", reason)
                .opt_str("ref", client_ref.as_deref()),
            ClientFrame::Ping => Writer::new("ping"),
        }
        .done()
    }
}

impl ErrorCode {
    /// The code a wire spelling names.
    pub fn from_wire(s: &str) -> Option<ErrorCode> {
        ErrorCode::ALL.into_iter().find(|code| code.as_str() == s)
    }
}
