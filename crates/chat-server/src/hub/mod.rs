//! Who is subscribed to which room, who is present, and fan-out.
//!
//! Everything here is synchronous and short: a frame is serialized once before the lock
//! is taken, and under the lock the same bytes are pushed to every subscriber's
//! [`Outbox`] without waiting. A subscriber that cannot keep up closes itself (1013);
//! nobody else notices.

mod presence;
mod room;
mod sequence;
mod tail;

use crate::clock::now_ms;
use crate::deferred_flush::{DeferredFlush, NOTICE_WINDOW};
use crate::metrics::Metrics;
use crate::outbox::{Outbox, flush_all};
use crate::outgoing::encode;
use bytes::Bytes;
use chat_protocol::{Message, ServerFrame, SystemEvent, User};
pub use presence::{MemberPage, RoomMembers};
use room::{Room, Subscriber};
use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};
use tokio::sync::mpsc;

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
    /// The room's newest seq as the history read saw it: where live delivery starts
    /// when this is the room's first join on this node.
    pub head: u64,
    /// The members as the whole cluster sees them; `None` on one node (the hub's own
    /// count is then the truth).
    pub members: Option<RoomMembers>,
    /// The history was read from the store and ends at the room's newest message as
    /// the store had it: the hub may keep it as the room's tail.
    pub reaches_head: bool,
}

/// Messages of a room are known to be missing after `after`: read them from the
/// database and hand them to [`Hub::deliver_filled`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Gap {
    pub room: String,
    pub after: u64,
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
    /// With several nodes: where gaps are reported, and how many of this node's commits
    /// per room are between the database and the hub (a gap is not reported while one
    /// is: the missing message is most likely in it). Locked after `rooms`.
    gaps: OnceLock<mpsc::UnboundedSender<Gap>>,
    /// With several nodes, whether a user arrives or leaves is the cluster's to decide
    /// (`cluster::presence`), so the hub announces nothing itself.
    shared_presence: OnceLock<()>,
    in_flight: Mutex<HashMap<String, u32>>,
    /// Online users above which a room is big (`--big-room-threshold`).
    big_room: usize,
    /// Where `system` notices of small rooms wait to share a write (see
    /// [`DeferredFlush`]). Locked after `rooms`.
    notices: DeferredFlush,
    metrics: Arc<Metrics>,
}

/// Returned by [`Hub::subscribe`]: the caller must finish with [`Hub::complete_join`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Subscribed {
    /// A new subscription, holding live frames until `complete_join`.
    New {
        /// The user's first connection in the room on this node.
        first_tab: bool,
        /// The room had no subscriber on this node before.
        new_room: bool,
    },
    /// This connection was already subscribed; live frames keep flowing.
    Already,
}

impl Subscribed {
    pub fn is_new(self) -> bool {
        matches!(self, Subscribed::New { .. })
    }
}

/// Returned by [`Hub::unsubscribe`] for a connection that was subscribed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unsubscribed {
    /// The user, when this was their last connection in the room on this node.
    pub last_tab: Option<User>,
    /// The room has no subscriber left on this node.
    pub room_gone: bool,
}

impl Hub {
    /// A hub whose rooms are big above `big_room` online users.
    pub fn new(metrics: Arc<Metrics>, big_room: usize) -> Self {
        Hub {
            rooms: Mutex::new(HashMap::new()),
            gaps: OnceLock::new(),
            shared_presence: OnceLock::new(),
            in_flight: Mutex::new(HashMap::new()),
            big_room,
            notices: DeferredFlush::new(NOTICE_WINDOW),
            metrics,
        }
    }

    /// Online users above which a room is big.
    pub fn big_room(&self) -> usize {
        self.big_room
    }

    /// Makes this hub one of several nodes': gaps in a room's seqs are reported to
    /// `gaps` instead of being impossible, and arrivals and departures are announced by
    /// the cluster, not by the hub.
    pub fn join_cluster(&self, gaps: mpsc::UnboundedSender<Gap>) {
        let _ = self.gaps.set(gaps);
        let _ = self.shared_presence.set(());
    }

    /// Whether this hub is one of several nodes'.
    pub fn in_cluster(&self) -> bool {
        self.gaps.get().is_some()
    }

    fn announces_itself(&self, room_name: &str) -> bool {
        self.shared_presence.get().is_none() && announces_presence(room_name)
    }

    fn in_flight(&self) -> MutexGuard<'_, HashMap<String, u32>> {
        self.in_flight
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// This node's journal is about to commit messages to these rooms.
    pub fn commits_begin<'a>(&self, rooms: impl IntoIterator<Item = &'a str>) {
        if self.gaps.get().is_none() {
            return;
        }
        let mut in_flight = self.in_flight();
        for room in rooms {
            *in_flight.entry(room.to_owned()).or_default() += 1;
        }
    }

    /// The commit [`Hub::commits_begin`] announced was delivered (or failed): a gap it
    /// did not close is reported now.
    pub fn commits_end<'a>(&self, rooms: impl IntoIterator<Item = &'a str>) {
        if self.gaps.get().is_none() {
            return;
        }
        let mut rooms_map = self.lock();
        for room in rooms {
            let done = {
                let mut in_flight = self.in_flight();
                match in_flight.get_mut(room) {
                    Some(count) if *count > 1 => {
                        *count -= 1;
                        false
                    }
                    _ => {
                        in_flight.remove(room);
                        true
                    }
                }
            };
            if done && let Some(state) = rooms_map.get_mut(room) {
                self.report_gap(room, state);
            }
        }
    }

    /// Asks for a fill when the room misses messages, no fill is under way, and none
    /// of this node's commits to it is still on its way here.
    fn report_gap(&self, room_name: &str, room: &mut Room) {
        let Some(gaps) = self.gaps.get() else {
            return;
        };
        if !room.sequence.has_gap() || self.in_flight().contains_key(room_name) {
            return;
        }
        if let Some(after) = room.sequence.wants_fill() {
            let _ = gaps.send(Gap {
                room: room_name.to_owned(),
                after,
            });
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
    /// A user's first connection in the room announces their arrival to the others
    /// (see [`Hub::presence_change`]).
    pub fn subscribe(
        &self,
        room_name: &str,
        conn: ConnId,
        user: &User,
        outbox: &Outbox,
    ) -> Subscribed {
        let mut rooms = self.lock();
        let new_room = !rooms.contains_key(room_name);
        let room = rooms.entry(room_name.to_owned()).or_default();
        if room.subscribers.contains_key(&conn) {
            return Subscribed::Already;
        }
        let first_tab = room.add_member(user);
        if first_tab && self.announces_itself(room_name) {
            self.presence_locked(room_name, room, SystemEvent::Join, user, None);
        }
        room.subscribers
            .insert(conn, Subscriber::pending(user.id.clone(), outbox.clone()));
        self.metrics.subscriptions.inc();
        Subscribed::New {
            first_tab,
            new_room,
        }
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
            let members = reply
                .members
                .unwrap_or_else(|| room.listed_members(self.big_room));
            // The read is the room's newest as the store had it, whether or not this
            // subscriber is still there to get it.
            if reply.reaches_head {
                room.tail.seed(&reply.history, reply.more);
            }
            let Some(subscriber) = room.subscribers.get_mut(&conn) else {
                return;
            };
            let covered = reply.history.last().map_or(since, |m| m.seq.max(since));
            let joined = encode(&ServerFrame::Joined {
                room: room_name.to_owned(),
                members: members.listed,
                online: members.online,
                history: reply.history,
                more: reply.more,
                recovered: reply.recovered,
                you: reply.you,
            });
            let to_flush = subscriber.complete_join(joined, covered);
            let mut dirty: Vec<Outbox> = to_flush.into_iter().collect();
            if self.in_cluster() {
                // The room's first join says where its live stream starts here.
                room.sequence.start_at(reply.head);
                let sent = room.release_early(&mut dirty);
                self.count_deliveries(room, sent);
                self.report_gap(room_name, room);
            }
            dirty
        };
        // Sockets are written after the lock is released.
        flush_all(to_flush);
    }

    /// The history for a `joined`, from the room's newest messages in memory, when
    /// they hold all of it: the last 50, or with `since` everything after it (see
    /// `tail.rs`). `None`: read the store. Called after [`Hub::subscribe`], so whatever
    /// is delivered after this answer reaches the subscriber live.
    pub fn history_from_memory(&self, room_name: &str, since: Option<u64>) -> Option<JoinReply> {
        let answer = self.lock().get(room_name)?.tail.answer(since)?;
        Some(JoinReply {
            history: answer.history,
            more: answer.more,
            recovered: since.map(|_| true),
            head: answer.head,
            ..JoinReply::default()
        })
    }

    fn count_deliveries(&self, room: &Room, messages: usize) {
        if messages > 0 {
            let deliveries = (room.subscribers.len() * messages) as u64;
            self.metrics.deliveries.inc_by(deliveries);
        }
    }

    /// Unsubscribes a connection. A user's last connection leaving announces their
    /// departure to the others. `None` when the connection was not subscribed.
    pub fn unsubscribe(&self, room_name: &str, conn: ConnId) -> Option<Unsubscribed> {
        let mut rooms = self.lock();
        let room = rooms.get_mut(room_name)?;
        let subscriber = room.subscribers.remove(&conn)?;
        self.metrics.subscriptions.dec();
        let last_tab = room.remove_member(&subscriber.user_id);
        if let Some(user) = last_tab
            .as_ref()
            .filter(|_| self.announces_itself(room_name))
        {
            self.presence_locked(room_name, room, SystemEvent::Leave, user, None);
        }
        let room_gone = room.subscribers.is_empty();
        if room_gone {
            rooms.remove(room_name);
            if rooms.capacity() > 2 * rooms.len() + 64 {
                // Rooms come and go; the map does not keep the high-water mark's memory.
                rooms.shrink_to_fit();
            }
        }
        Some(Unsubscribed {
            last_tab,
            room_gone,
        })
    }

    /// Every user present in a room on this node, with the room (to tell the cluster
    /// again after Redis lost track).
    pub fn local_members(&self) -> Vec<(String, User)> {
        let rooms = self.lock();
        rooms
            .iter()
            .flat_map(|(name, room)| {
                room.members
                    .values()
                    .map(move |m| (name.clone(), m.user.clone()))
            })
            .collect()
    }

    /// The users present in a room on this node.
    pub fn members_here(&self, room_name: &str) -> Vec<User> {
        self.lock()
            .get(room_name)
            .map(Room::member_list)
            .unwrap_or_default()
    }

    /// Up to `limit` of the users present in a room on this node with ids after
    /// `after`, in id order.
    pub fn member_page(&self, room_name: &str, after: Option<&str>, limit: usize) -> MemberPage {
        self.lock()
            .get(room_name)
            .map(|room| room.member_page(after, limit))
            .unwrap_or_default()
    }

    /// A user arrived in a room or left it (anywhere, as the cluster decided, with the
    /// room's count anywhere after it, `None` for this node's own count). Below the
    /// big-room threshold the others get a `system` frame now; above it, or while
    /// changes are pending, it waits for the room's next [`Hub::flush_presence`].
    pub fn presence_change(
        &self,
        room_name: &str,
        event: SystemEvent,
        user: &User,
        online_anywhere: Option<u32>,
    ) {
        if let Some(room) = self.lock().get_mut(room_name) {
            self.presence_locked(room_name, room, event, user, online_anywhere);
        }
    }

    fn presence_locked(
        &self,
        room_name: &str,
        room: &mut Room,
        event: SystemEvent,
        user: &User,
        online_anywhere: Option<u32>,
    ) {
        let online = online_anywhere.map_or(room.members.len(), |n| n as usize);
        // The count with the user still (or already) there: a room of 101 is big for
        // the 101st's arrival and for their departure alike.
        let present = match event {
            SystemEvent::Join => online,
            SystemEvent::Leave => online + 1,
        };
        // While changes are pending, later ones wait too: frames keep their order.
        if present > self.big_room || !room.pending.is_empty() {
            room.pending.record(event, user, online_anywhere);
            return;
        }
        let notice = encode(&ServerFrame::System {
            room: room_name.to_owned(),
            event,
            user: user.clone(),
            ts: now_ms(),
        });
        let mut waiting = Vec::new();
        room.broadcast_deferred(&notice, |s| s.user_id != user.id, &mut waiting);
        self.notices.defer(waiting);
    }

    /// Sends every room's pending arrivals and departures as one `presence` frame to
    /// all its subscribers; called once a second.
    pub fn flush_presence(&self) {
        let mut dirty = Vec::new();
        {
            let mut rooms = self.lock();
            for (name, room) in rooms.iter_mut() {
                if let Some(frame) = room.pending.take_frame(name, room.members.len()) {
                    room.broadcast(&encode(&frame), None, |_| true, &mut dirty);
                    self.metrics.presence_frames.inc();
                }
            }
        }
        flush_all(dirty);
    }

    /// The rooms with subscribers on this node (to subscribe to them again in Redis).
    pub fn room_names(&self) -> Vec<String> {
        self.lock().keys().cloned().collect()
    }

    /// Delivers a stored message to every subscriber of its room; the sender's
    /// connection gets its own copy with `ref`. Frames are only queued: the caller
    /// flushes the outboxes left in `dirty` once it has delivered its whole batch, so
    /// that each connection gets one write for all of it.
    pub fn deliver(&self, message: Message, origin: Option<&Origin>, dirty: &mut Vec<Outbox>) {
        let plain = message_frame(&message, None);
        let own = origin.and_then(|o| {
            let client_ref = o.client_ref.clone()?;
            Some((o.conn, message_frame(&message, Some(client_ref))))
        });
        let in_cluster = self.in_cluster();
        let mut rooms = self.lock();
        if let Some(room) = rooms.get_mut(&message.room) {
            if !in_cluster {
                // One node: the journal is the only source, in commit order.
                room.broadcast_message(&message, &plain, own.as_ref(), dirty);
                self.count_deliveries(room, 1);
                return;
            }
            let room_name = message.room.clone();
            let sent = room.offer_message(message, plain, own, dirty);
            self.count_deliveries(room, sent);
            if sent == 0 {
                self.report_gap(&room_name, room);
            }
        }
    }

    /// Delivers messages another node stored (through Redis), in their turn. Returns
    /// how many reached subscribers here (held and repeated ones do not count).
    pub fn deliver_remote(&self, messages: &[Message]) -> usize {
        let frames: Vec<Bytes> = messages.iter().map(|m| message_frame(m, None)).collect();
        let mut dirty = Vec::new();
        let mut delivered = 0;
        {
            let mut rooms = self.lock();
            for (message, frame) in messages.iter().zip(frames) {
                if let Some(room) = rooms.get_mut(&message.room) {
                    let sent = room.offer_message(message.clone(), frame, None, &mut dirty);
                    self.count_deliveries(room, sent);
                    delivered += sent * room.subscribers.len();
                    if sent == 0 {
                        self.report_gap(&message.room, room);
                    }
                }
            }
        }
        flush_all(dirty);
        delivered
    }

    /// Delivers what a fill read from the database for a [`Gap`] (oldest first), and
    /// reports the room again if messages are still missing.
    pub fn deliver_filled(&self, room_name: &str, messages: &[Message]) -> usize {
        let delivered = self.deliver_remote(messages);
        if let Some(room) = self.lock().get_mut(room_name) {
            room.sequence.fill_done();
            self.report_gap(room_name, room);
        }
        delivered
    }

    /// Another node says a room has reached `seq` (its messages may not have come
    /// through Redis): fill from the database if this node is behind.
    pub fn announce_head(&self, room_name: &str, seq: u64) {
        if let Some(room) = self.lock().get_mut(room_name) {
            room.sequence.announce_head(seq);
            self.report_gap(room_name, room);
        }
    }

    /// Redis was away: anything may have been missed, so every room with subscribers
    /// here is read from the database from where its delivery stands.
    pub fn catch_up_all(&self) {
        let Some(gaps) = self.gaps.get() else {
            return;
        };
        let mut rooms = self.lock();
        for (room_name, room) in rooms.iter_mut() {
            if let Some(after) = room.sequence.catch_up() {
                let _ = gaps.send(Gap {
                    room: room_name.clone(),
                    after,
                });
            }
        }
    }

    /// Whether a room has subscribers on this node.
    pub fn has_room(&self, room_name: &str) -> bool {
        self.lock().contains_key(room_name)
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

/// A `message` frame as wire bytes, built once for all its recipients.
fn message_frame(message: &Message, client_ref: Option<String>) -> Bytes {
    encode(&ServerFrame::Message {
        message: message.clone(),
        client_ref,
    })
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
        let hub = Hub::new(Arc::new(Metrics::default()), 100);
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
            assert!(hub.unsubscribe(&format!("room{i}"), 1).is_some());
        }
        assert!(hub.presence().is_empty());
        assert!(
            hub.lock().capacity() < 200,
            "an empty hub keeps room for {} rooms",
            hub.lock().capacity()
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_small_rooms_arrival_notices_share_one_write_per_member() {
        use tokio::io::AsyncReadExt;
        let hub = Hub::new(Arc::new(Metrics::default()), 100);
        let (socket, mut peer) = tokio::io::duplex(1 << 20);
        let watcher = Outbox::new(Box::pin(socket), 1 << 20);
        let ada = User {
            id: "u_ada".into(),
            name: "Ada".into(),
        };
        hub.subscribe("lobby", 1, &ada, &watcher);
        hub.complete_join("lobby", 1, JoinReply::default(), 0);
        // `joined` was written at once; take it out of the pipe.
        let mut joined = vec![0; 4096];
        assert!(peer.read(&mut joined).await.expect("joined") > 0);
        assert_eq!(watcher.queued_bytes(), 0);
        let (other, _other_peer) = tokio::io::duplex(1 << 20);
        let other = Outbox::new(Box::pin(other), 1 << 20);
        for i in 0..3u64 {
            let user = User {
                id: format!("u_{i}"),
                name: format!("N{i}"),
            };
            hub.subscribe("lobby", 10 + i, &user, &other);
        }
        let waiting = watcher.queued_bytes();
        assert!(waiting > 0, "three notices wait for the window");
        let start = tokio::time::Instant::now();
        let mut notices = vec![0; waiting];
        peer.read_exact(&mut notices).await.expect("notices");
        assert_eq!(start.elapsed(), NOTICE_WINDOW);
        let text = String::from_utf8_lossy(&notices);
        assert_eq!(text.matches(r#""type":"system""#).count(), 3, "{text}");
    }
}
