//! What travels between nodes through Redis pub/sub, as JSON. Every envelope names the
//! node that sent it: a node applies its own events itself and skips them on the way
//! back.

use crate::roster::Control;
use chat_protocol::{Message, ServerFrame, SystemEvent, User};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Envelope {
    /// The node that sent it; empty for what Redis's scripts publish, which every node
    /// applies (the one that ran the script too).
    pub node: String,
    pub event: Event,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Event {
    /// Messages of one room that one commit stored, in seq order.
    Messages { messages: Vec<Message> },
    /// A room has reached `seq`: sent after publishing failed, so that nodes that
    /// missed messages read them from the database.
    Head { room: String, seq: u64 },
    Typing {
        room: String,
        user: User,
        active: bool,
    },
    /// A frame for every subscriber of the room but the user `except` (presence
    /// notices, a pair's closing).
    Notice {
        room: String,
        frame: ServerFrame,
        except: String,
    },
    /// A user arrived in a room or left it anywhere (published by the presence scripts,
    /// `scripts::announce`), with the room's count anywhere after it.
    Presence {
        room: String,
        user: User,
        change: SystemEvent,
        online: u32,
    },
    /// For a user's connections (on a user channel): all of them, or one connection
    /// of one node.
    Control {
        target: Option<ConnTarget>,
        control: Control,
        /// A connection of this node is left out.
        except: Option<ConnTarget>,
    },
}

/// One connection somewhere in the cluster.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConnTarget {
    pub node: String,
    pub conn: u64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn envelopes_survive_the_trip() {
        let envelope = Envelope {
            node: "n1".into(),
            event: Event::Control {
                target: Some(ConnTarget {
                    node: "n2".into(),
                    conn: 7,
                }),
                control: Control::Join {
                    room: "~dm.a.b".into(),
                },
                except: None,
            },
        };
        let json = serde_json::to_string(&envelope).unwrap_or_default();
        let back: Option<Envelope> = serde_json::from_str(&json).ok();
        assert_eq!(back, Some(envelope));
    }

    /// What `scripts::announce` writes in Lua (cjson escapes `/` as `\/`), read as the
    /// envelope it stands for.
    #[test]
    fn the_presence_scripts_envelope_is_a_presence_event() {
        let from_lua = r#"{"node":"","event":{"kind":"presence","room":"a\/b","user":{"id":"u_1","name":"Ada"},"change":"leave","online":101}}"#;
        let envelope: Option<Envelope> = serde_json::from_str(from_lua).ok();
        assert_eq!(
            envelope,
            Some(Envelope {
                node: String::new(),
                event: Event::Presence {
                    room: "a/b".into(),
                    user: User {
                        id: "u_1".into(),
                        name: "Ada".into()
                    },
                    change: SystemEvent::Leave,
                    online: 101,
                },
            })
        );
    }
}
