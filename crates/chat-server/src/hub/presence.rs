//! Arrivals and departures in a big room, held back and sent as one `presence` frame per
//! second: announcing each one to everyone would cost n² frames when n people join.

use chat_protocol::{MAX_LISTED_MEMBERS, ServerFrame, SystemEvent, User};
use std::collections::HashMap;

/// A room's online users as a `joined` shows them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoomMembers {
    /// Everyone (by name), or in a big room the first [`MAX_LISTED_MEMBERS`] by id.
    pub listed: Vec<User>,
    /// Everyone online, wherever.
    pub online: u32,
}

/// One page of `GET /api/rooms/{room}/members`, in user id order.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct MemberPage {
    pub members: Vec<User>,
    pub online: u32,
    /// Members with a greater id exist.
    pub more: bool,
}

#[derive(Debug)]
enum Change {
    Joined(User),
    Left(User),
}

/// What changed in a room since its last `presence` frame, net: someone who came and
/// went (or went and came back) within the second is not mentioned at all.
#[derive(Debug, Default)]
pub(super) struct PendingPresence {
    /// Keyed by user id; empty (and unallocated) in every room that is not big.
    changes: HashMap<String, Change>,
    /// The room's count anywhere as the newest change reported it (several nodes);
    /// `None` when this node's own count is the truth.
    online: Option<u32>,
}

impl PendingPresence {
    pub fn is_empty(&self) -> bool {
        self.changes.is_empty()
    }

    pub fn record(&mut self, event: SystemEvent, user: &User, online_anywhere: Option<u32>) {
        if online_anywhere.is_some() {
            self.online = online_anywhere;
        }
        let cancelled = matches!(
            (self.changes.get(&user.id), event),
            (Some(Change::Left(_)), SystemEvent::Join)
                | (Some(Change::Joined(_)), SystemEvent::Leave)
        );
        if cancelled {
            self.changes.remove(&user.id);
            return;
        }
        let change = match event {
            SystemEvent::Join => Change::Joined(user.clone()),
            SystemEvent::Leave => Change::Left(user.clone()),
        };
        self.changes.insert(user.id.clone(), change);
    }

    /// The `presence` frame for what is pending (lists by id, each capped), leaving
    /// nothing pending; `None` when nothing is.
    pub fn take_frame(&mut self, room: &str, online_here: usize) -> Option<ServerFrame> {
        if self.changes.is_empty() {
            return None;
        }
        let online = self
            .online
            .take()
            .unwrap_or_else(|| u32::try_from(online_here).unwrap_or(u32::MAX));
        let mut joined = Vec::new();
        let mut left = Vec::new();
        for (_, change) in std::mem::take(&mut self.changes) {
            match change {
                Change::Joined(user) => joined.push(user),
                Change::Left(user) => left.push(user),
            }
        }
        for list in [&mut joined, &mut left] {
            list.sort_unstable_by(|a, b| a.id.cmp(&b.id));
            list.truncate(MAX_LISTED_MEMBERS);
        }
        Some(ServerFrame::Presence {
            room: room.to_owned(),
            joined,
            left,
            online,
        })
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn user(id: &str) -> User {
        User {
            id: id.into(),
            name: id.to_uppercase(),
        }
    }

    fn lists(frame: Option<ServerFrame>) -> (Vec<String>, Vec<String>, u32) {
        let Some(ServerFrame::Presence {
            joined,
            left,
            online,
            ..
        }) = frame
        else {
            panic!("no presence frame");
        };
        let ids = |users: Vec<User>| users.into_iter().map(|u| u.id).collect();
        (ids(joined), ids(left), online)
    }

    #[test]
    fn coming_and_going_within_the_second_cancel_out() {
        let mut pending = PendingPresence::default();
        pending.record(SystemEvent::Join, &user("b"), None);
        pending.record(SystemEvent::Join, &user("a"), None);
        pending.record(SystemEvent::Leave, &user("b"), None);
        pending.record(SystemEvent::Leave, &user("c"), None);
        pending.record(SystemEvent::Join, &user("c"), None);
        pending.record(SystemEvent::Leave, &user("d"), None);
        let (joined, left, online) = lists(pending.take_frame("r", 120));
        assert_eq!(joined, ["a"]);
        assert_eq!(left, ["d"]);
        assert_eq!(online, 120, "the hub's count when no node reported one");
        assert!(pending.is_empty());
        assert!(pending.take_frame("r", 120).is_none(), "nothing twice");
    }

    #[test]
    fn lists_are_capped_and_the_newest_count_anywhere_wins() {
        let mut pending = PendingPresence::default();
        for i in 0..250 {
            pending.record(SystemEvent::Join, &user(&format!("u{i:03}")), Some(300 + i));
        }
        let (joined, left, online) = lists(pending.take_frame("r", 5));
        assert_eq!(joined.len(), MAX_LISTED_MEMBERS);
        assert_eq!(joined[0], "u000");
        assert!(left.is_empty());
        assert_eq!(online, 549);
    }
}
