//! Who is subscribed to which room, who is present, and fan-out.
//!
//! Everything here is synchronous and short: a frame is serialized once before the lock
//! is taken, and under the lock the same bytes are pushed to every subscriber's
//! [`Outbox`] without waiting. A subscriber that cannot keep up closes itself (1013);
//! nobody else notices.

mod room;

use crate::clock::now_ms;
use crate::metrics::Metrics;
use crate::outbox::{Outbox, flush_all};
use crate::outgoing::encode;
use chat_protocol::{Message, ServerFrame, SystemEvent, User};
use room::{Room, Subscriber};
use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};

/// Identifies one WebSocket connection for the life of the process.
pub type ConnId = u64;

/// Where a stored message came from, so the sender's own copy can carry its `ref`.
#[derive(Debug, Clone)]
pub struct Origin {
    pub conn: ConnId,
    pub client_ref: Option<String>,
}

/// What a `joined` says besides the members, which the hub adds.
#[derive(Debug, Clone, Default)]
pub struct JoinReply {
    /// Oldest first.
    pub history: Vec<Message>,
    pub more: bool,
    pub recovered: Option<bool>,
    /// In a pair room: how the joining user appears there.
    pub you: Option<User>,
}

/// A room's presence as listed by `GET /api/rooms`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Presence {
    pub room: String,
    pub online: u32,
}

/// The in-process registry of rooms and their subscribers.
pub struct Hub {
    /// Locking rule: while this lock is held, frames are only queued into outboxes
    /// ([`Outbox::enqueue`], memory only, under each outbox's own lock, which is always
    /// taken after this one); sockets are written ([`Outbox::flush`]) after it is
    /// released, through the `dirty` list every method collects. A socket write under
    /// this lock would make every room wait on one connection's kernel buffer.
    rooms: Mutex<HashMap<String, Room>>,
    metrics: Arc<Metrics>,
}

/// Returned by [`Hub::subscribe`]: the caller must finish with [`Hub::complete_join`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Subscribed {
    /// A new subscription, holding live frames until `complete_join`.
    New,
    /// This connection was already subscribed; live frames keep flowing.
    Already,
}

impl Hub {
    pub fn new(metrics: Arc<Metrics>) -> Self {
        Hub {
            rooms: Mutex::new(HashMap::new()),
            metrics,
        }
    }

    fn lock(&self) -> MutexGuard<'_, HashMap<String, Room>> {
        // Every critical section leaves the maps consistent before anything can panic.
        self.rooms
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Subscribes a connection to a room. Live frames for it are held back until
    /// [`Hub::complete_join`] sends `joined`, so the client sees `joined` first and no
    /// message that is committed while its history is being read is lost.
    ///
    /// A user's first connection in the room announces a `system` `join` to the others.
    pub fn subscribe(
        &self,
        room_name: &str,
        conn: ConnId,
        user: &User,
        outbox: &Outbox,
    ) -> Subscribed {
        let mut dirty = Vec::new();
        let subscribed = self.subscribe_locked(room_name, conn, user, outbox, &mut dirty);
        flush_all(dirty);
        subscribed
    }

    fn subscribe_locked(
        &self,
        room_name: &str,
        conn: ConnId,
        user: &User,
        outbox: &Outbox,
        dirty: &mut Vec<Outbox>,
    ) -> Subscribed {
        let mut rooms = self.lock();
        let room = rooms.entry(room_name.to_owned()).or_default();
        if room.subscribers.contains_key(&conn) {
            return Subscribed::Already;
        }
        let first_tab = room.add_member(user);
        if first_tab && announces_presence(room_name) {
            let notice = encode(&ServerFrame::System {
                room: room_name.to_owned(),
                event: SystemEvent::Join,
                user: user.clone(),
                ts: now_ms(),
            });
            room.broadcast(&notice, None, |_| true, dirty);
        }
        room.subscribers
            .insert(conn, Subscriber::pending(user.id.clone(), outbox.clone()));
        self.metrics.subscriptions.inc();
        Subscribed::New
    }

    /// Sends `joined` with the given history and the current members, then releases the
    /// live frames held since [`Hub::subscribe`], skipping messages the history holds
    /// (those up to its last seq, or up to `since`).
    pub fn complete_join(&self, room_name: &str, conn: ConnId, reply: JoinReply, since: u64) {
        let to_flush = {
            let mut rooms = self.lock();
            let Some(room) = rooms.get_mut(room_name) else {
                return;
            };
            let members = room.member_list();
            let Some(subscriber) = room.subscribers.get_mut(&conn) else {
                return;
            };
            let covered = reply.history.last().map_or(since, |m| m.seq.max(since));
            let joined = encode(&ServerFrame::Joined {
                room: room_name.to_owned(),
                members,
                history: reply.history,
                more: reply.more,
                recovered: reply.recovered,
                you: reply.you,
            });
            subscriber.complete_join(joined, covered)
        };
        // The socket is written after the lock is released.
        if let Some(outbox) = to_flush {
            outbox.flush();
        }
    }

    /// Unsubscribes a connection. A user's last connection leaving announces a `system`
    /// `leave` to the others. Returns whether the connection was subscribed.
    pub fn unsubscribe(&self, room_name: &str, conn: ConnId) -> bool {
        let mut dirty = Vec::new();
        let was_subscribed = self.unsubscribe_locked(room_name, conn, &mut dirty);
        flush_all(dirty);
        was_subscribed
    }

    fn unsubscribe_locked(&self, room_name: &str, conn: ConnId, dirty: &mut Vec<Outbox>) -> bool {
        let mut rooms = self.lock();
        let Some(room) = rooms.get_mut(room_name) else {
            return false;
        };
        let Some(subscriber) = room.subscribers.remove(&conn) else {
            return false;
        };
        self.metrics.subscriptions.dec();
        if let Some(user) = room
            .remove_member(&subscriber.user_id)
            .filter(|_| announces_presence(room_name))
        {
            let notice = encode(&ServerFrame::System {
                room: room_name.to_owned(),
                event: SystemEvent::Leave,
                user,
                ts: now_ms(),
            });
            room.broadcast(&notice, None, |_| true, dirty);
        }
        if room.subscribers.is_empty() {
            rooms.remove(room_name);
            if rooms.capacity() > 2 * rooms.len() + 64 {
                // Rooms come and go; the map does not keep the high-water mark's memory.
                rooms.shrink_to_fit();
            }
        }
        true
    }

    /// Delivers a stored message to every subscriber of its room; the sender's
    /// connection gets its own copy with `ref`. Frames are only queued: the caller
    /// flushes the outboxes left in `dirty` once it has delivered its whole batch, so
    /// that each connection gets one write for all of it.
    pub fn deliver(&self, message: Message, origin: Option<&Origin>, dirty: &mut Vec<Outbox>) {
        let room_name = message.room.clone();
        let seq = message.seq;
        let own_ref = origin.and_then(|o| o.client_ref.clone());
        let mut frame = ServerFrame::Message {
            message,
            client_ref: None,
        };
        let plain = encode(&frame);
        let own = match (own_ref, &mut frame) {
            (Some(r), ServerFrame::Message { client_ref, .. }) => {
                *client_ref = Some(r);
                Some((origin.map_or(0, |o| o.conn), encode(&frame)))
            }
            _ => None,
        };
        let mut rooms = self.lock();
        if let Some(room) = rooms.get_mut(&room_name) {
            room.broadcast_message(seq, &plain, own.as_ref(), dirty);
            self.metrics
                .deliveries
                .inc_by(room.subscribers.len() as u64);
        }
    }

    /// Tells the room's other users that `user` is (or stopped) typing. Other tabs of the
    /// same user are not told: nobody needs to see their own typing indicator.
    pub fn typing(&self, room_name: &str, user: &User, active: bool) {
        let frame = encode(&ServerFrame::Typing {
            room: room_name.to_owned(),
            user: user.clone(),
            active,
        });
        let mut dirty = Vec::new();
        if let Some(room) = self.lock().get_mut(room_name) {
            let others = |subscriber: &Subscriber| subscriber.user_id != user.id;
            room.broadcast(&frame, None, others, &mut dirty);
        }
        flush_all(dirty);
    }

    /// Sends a frame that is not a message (a notice) to every subscriber of a room who
    /// is not the member `except` (a user id as the room shows it).
    pub fn announce(&self, room_name: &str, frame: &ServerFrame, except: &str) {
        let frame = encode(frame);
        let mut dirty = Vec::new();
        if let Some(room) = self.lock().get_mut(room_name) {
            room.broadcast(&frame, None, |s| s.user_id != except, &mut dirty);
        }
        flush_all(dirty);
    }

    /// Online users (not tabs) of every room that has any.
    pub fn presence(&self) -> Vec<Presence> {
        self.lock()
            .iter()
            .map(|(room, state)| Presence {
                room: room.clone(),
                online: u32::try_from(state.members.len()).unwrap_or(u32::MAX),
            })
            .collect()
    }
}

/// Whether arrivals and departures in a room are announced with `system` frames. Not in
/// an anonymous pair: a reload there must not look like the stranger leaving, so a
/// pair's only `system` frame is the `leave` that closes it ([`Hub::announce`]).
fn announces_presence(room_name: &str) -> bool {
    !room_name.starts_with("~pair.")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn rooms_and_their_memory_go_when_the_last_subscriber_leaves() {
        let hub = Hub::new(Arc::new(Metrics::default()));
        let (socket, _peer) = tokio::io::duplex(1 << 20);
        let outbox = Outbox::new(Box::pin(socket), 1 << 20);
        let user = User {
            id: "u_1".into(),
            name: "One".into(),
        };
        for i in 0..5000 {
            let room = format!("room{i}");
            hub.subscribe(&room, 1, &user, &outbox);
            hub.complete_join(&room, 1, JoinReply::default(), 0);
        }
        assert_eq!(hub.presence().len(), 5000);
        for i in 0..5000 {
            assert!(hub.unsubscribe(&format!("room{i}"), 1));
        }
        assert!(hub.presence().is_empty());
        assert!(
            hub.lock().capacity() < 200,
            "an empty hub keeps room for {} rooms",
            hub.lock().capacity()
        );
    }
}
