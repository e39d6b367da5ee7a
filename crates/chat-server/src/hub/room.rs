//! One room's subscribers and members.

use super::presence::{MemberPage, PendingPresence, RoomMembers};
use super::sequence::{Early, Sequence, Verdict};
use super::tail::Tail;
use crate::hub::ConnId;
use crate::outbox::Outbox;
use bytes::Bytes;
use chat_protocol::{MAX_LISTED_MEMBERS, Message, User};
use std::collections::{BTreeMap, HashMap};
use std::ops::Bound;

/// A connection subscribed to a room.
#[derive(Debug)]
pub(super) struct Subscriber {
    pub user_id: String,
    pub outbox: Outbox,
    /// Live frames that arrived between `subscribe` and `complete_join`, with the seq
    /// of the message each carries (if any). `None` once the join is complete.
    held: Option<Vec<(Option<u64>, Bytes)>>,
    /// The newest seq its `joined` history covered: a message up to it that is
    /// delivered live later (committed before the history was read, handed out after)
    /// is not sent again.
    covered: u64,
}

impl Subscriber {
    pub fn pending(user_id: String, outbox: Outbox) -> Self {
        Subscriber {
            user_id,
            outbox,
            held: Some(Vec::new()),
            covered: 0,
        }
    }

    /// Ends holding: the frames held so far, and from now on frames go straight out.
    fn take_held(&mut self) -> Vec<(Option<u64>, Bytes)> {
        self.held.take().unwrap_or_default()
    }

    /// Ends holding: queues `joined`, then the held frames that carry no message or a
    /// message newer than `covered` (the history `joined` holds). Only queued, so that it
    /// can run under the hub's lock and still come before the next live frame; returns
    /// the outbox when the caller must flush it.
    pub fn complete_join(&mut self, joined: Bytes, covered: u64) -> Option<Outbox> {
        let held = self.take_held();
        self.covered = covered;
        let mut must_flush = self.outbox.enqueue(joined).ok()?;
        for (seq, frame) in held {
            if seq.is_none_or(|seq| seq > covered) {
                must_flush |= self.outbox.enqueue(frame).ok()?;
            }
        }
        must_flush.then(|| self.outbox.clone())
    }

    /// Queues a frame that may wait for a deferred flush (a notice), noting in
    /// `waiting` an outbox that must be handed to one.
    fn offer_deferred(&mut self, frame: &Bytes, waiting: &mut Vec<Outbox>) {
        match &mut self.held {
            Some(held) => held.push((None, frame.clone())),
            None => {
                if self.outbox.enqueue_deferred(frame.clone()) == Ok(true) {
                    waiting.push(self.outbox.clone());
                }
            }
        }
    }

    /// Queues the frame, noting in `dirty` an outbox that now has something to write.
    fn offer(&mut self, seq: Option<u64>, frame: &Bytes, dirty: &mut Vec<Outbox>) {
        if seq.is_some_and(|seq| seq <= self.covered) {
            return;
        }
        match &mut self.held {
            Some(held) => held.push((seq, frame.clone())),
            // A full queue closes the connection itself; its task then unsubscribes it.
            None => {
                if self.outbox.enqueue(frame.clone()) == Ok(true) {
                    dirty.push(self.outbox.clone());
                }
            }
        }
    }
}

/// A user present in a room, with how many of their connections are subscribed.
#[derive(Debug)]
pub(super) struct Member {
    pub user: User,
    pub tabs: u32,
}

#[derive(Debug, Default)]
pub(super) struct Room {
    pub subscribers: HashMap<ConnId, Subscriber>,
    /// Keyed by user id, in id order: the order big rooms list and page members in.
    pub members: BTreeMap<String, Member>,
    /// Where delivery stands: messages go out once and in seq order.
    pub sequence: Sequence,
    /// Arrivals and departures waiting for the room's next `presence` frame.
    pub pending: PendingPresence,
    /// The newest messages delivered here, which answer joins without a query.
    pub tail: Tail,
}

impl Room {
    /// Counts one more connection of `user`; true when it is the user's first.
    pub fn add_member(&mut self, user: &User) -> bool {
        let member = self
            .members
            .entry(user.id.clone())
            .or_insert_with(|| Member {
                user: user.clone(),
                tabs: 0,
            });
        member.tabs += 1;
        member.tabs == 1
    }

    /// Counts one connection less; returns the user when it was their last.
    pub fn remove_member(&mut self, user_id: &str) -> Option<User> {
        let member = self.members.get_mut(user_id)?;
        member.tabs = member.tabs.saturating_sub(1);
        if member.tabs == 0 {
            self.members.remove(user_id).map(|m| m.user)
        } else {
            None
        }
    }

    /// Online users, each once, in a stable order.
    pub fn member_list(&self) -> Vec<User> {
        let mut users: Vec<User> = self.members.values().map(|m| m.user.clone()).collect();
        users.sort_by(|a, b| a.name.cmp(&b.name).then_with(|| a.id.cmp(&b.id)));
        users
    }

    /// The members a `joined` lists: all of them by name, or when there are more than
    /// `big_room` the first [`MAX_LISTED_MEMBERS`] by id (the members endpoint's order).
    pub fn listed_members(&self, big_room: usize) -> RoomMembers {
        let online = u32::try_from(self.members.len()).unwrap_or(u32::MAX);
        let listed = if self.members.len() > big_room {
            let first = self.members.values().take(MAX_LISTED_MEMBERS);
            first.map(|m| m.user.clone()).collect()
        } else {
            self.member_list()
        };
        RoomMembers { listed, online }
    }

    /// Up to `limit` members with ids after `after`, in id order.
    pub fn member_page(&self, after: Option<&str>, limit: usize) -> MemberPage {
        let start = after.map_or(Bound::Unbounded, Bound::Excluded);
        let mut range = self
            .members
            .range::<str, _>((start, Bound::Unbounded))
            .map(|(_, m)| m.user.clone());
        let members: Vec<User> = range.by_ref().take(limit).collect();
        MemberPage {
            members,
            online: u32::try_from(self.members.len()).unwrap_or(u32::MAX),
            more: range.next().is_some(),
        }
    }

    /// Offers a frame that carries no message to every subscriber `include` accepts.
    pub fn broadcast(
        &mut self,
        frame: &Bytes,
        seq: Option<u64>,
        include: impl Fn(&Subscriber) -> bool,
        dirty: &mut Vec<Outbox>,
    ) {
        for subscriber in self.subscribers.values_mut() {
            if include(subscriber) {
                subscriber.offer(seq, frame, dirty);
            }
        }
    }

    /// Like [`Room::broadcast`] for a frame without a message that may wait to share a
    /// write with others (a `system` notice); `waiting` gets the outboxes to defer.
    pub fn broadcast_deferred(
        &mut self,
        frame: &Bytes,
        include: impl Fn(&Subscriber) -> bool,
        waiting: &mut Vec<Outbox>,
    ) {
        for subscriber in self.subscribers.values_mut() {
            if include(subscriber) {
                subscriber.offer_deferred(frame, waiting);
            }
        }
    }

    /// Delivers a message in its turn: now when it is the next one (with the held
    /// messages it was the missing predecessor of), later when it overtook one, never
    /// when it was delivered before. Returns how many messages went out.
    pub fn offer_message(
        &mut self,
        message: Message,
        plain: Bytes,
        own: Option<(ConnId, Bytes)>,
        dirty: &mut Vec<Outbox>,
    ) -> usize {
        let seq = message.seq;
        let early = Early {
            message: Box::new(message),
            plain,
            own,
        };
        let Verdict::Deliver(first) = self.sequence.offer(seq, early) else {
            return 0;
        };
        let mut sent = 0;
        let mut next = Some(first);
        while let Some(early) = next {
            self.broadcast_message(&early.message, &early.plain, early.own.as_ref(), dirty);
            sent += 1;
            next = self.sequence.next_early();
        }
        sent
    }

    /// Delivers the held messages that can go out now (after the room's start is known
    /// or a fill brought their predecessors).
    pub fn release_early(&mut self, dirty: &mut Vec<Outbox>) -> usize {
        let mut sent = 0;
        while let Some(early) = self.sequence.next_early() {
            self.broadcast_message(&early.message, &early.plain, early.own.as_ref(), dirty);
            sent += 1;
        }
        sent
    }

    /// Offers a message frame to everyone, with `own` (connection, bytes) replacing the
    /// plain copy for the sender's connection, and keeps the message in the tail.
    pub fn broadcast_message(
        &mut self,
        message: &Message,
        plain: &Bytes,
        own: Option<&(ConnId, Bytes)>,
        dirty: &mut Vec<Outbox>,
    ) {
        self.tail.record(message);
        let seq = message.seq;
        for (conn, subscriber) in self.subscribers.iter_mut() {
            let frame = match own {
                Some((sender, own_frame)) if sender == conn => own_frame,
                _ => plain,
            };
            subscriber.offer(Some(seq), frame, dirty);
        }
    }
}
