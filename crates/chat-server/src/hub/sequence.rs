//! A room's delivery order: every message reaches this node's subscribers once, in `seq`
//! order, whichever way it came (this node's journal, another node through Redis, a read
//! from the database to fill a gap).
//!
//! On one node the journal alone delivers, in commit order, and nothing here ever holds
//! a message back. With several nodes a message can overtake its predecessor (two nodes
//! commit 5 and 6; 6 comes through Redis before this node's own writer hands out 5) or
//! never come at all (Redis dropped it). So a message that arrives with a gap is held,
//! and once no commit of this node for the room is still on its way to the hub, the gap
//! is asked to be filled from the database. Duplicates are dropped by seq.

use super::ConnId;
use bytes::Bytes;
use chat_protocol::Message;
use std::collections::BTreeMap;

/// A message that came before one of its predecessors: its frame, and the sender's own
/// copy (with `ref`) when the sender is a connection of this node.
#[derive(Debug)]
pub(super) struct Early {
    /// Boxed: an `Early` travels by value through every verdict.
    pub message: Box<Message>,
    pub plain: Bytes,
    pub own: Option<(ConnId, Bytes)>,
}

/// What to do with a message that just arrived.
#[derive(Debug)]
pub(super) enum Verdict {
    /// It is the next one: deliver it, then whatever [`Sequence::next_early`] yields.
    Deliver(Early),
    /// Delivered before (or older than where this room starts here): drop it.
    Duplicate,
    /// Held until its predecessors come; a fill may be due ([`Sequence::wants_fill`]).
    Held,
}

/// Where a room's delivery stands on this node.
#[derive(Debug, Default)]
pub(super) struct Sequence {
    /// The seq of the last message delivered here. `None` until the room's first `join`
    /// has read the history and so knows where live delivery must start.
    delivered: Option<u64>,
    /// Messages held for their predecessors, by seq.
    early: BTreeMap<u64, Early>,
    /// The highest seq known to exist (held, or announced by another node).
    known_head: u64,
    /// A fill from the database has been asked for and not yet delivered.
    filling: bool,
    /// Anything may have been missed since a fill under way read the database (Redis
    /// came back meanwhile): read again once it is delivered.
    stale: bool,
}

impl Sequence {
    /// Decides about a message; holds it when it cannot go out yet.
    pub fn offer(&mut self, seq: u64, early: Early) -> Verdict {
        match self.delivered {
            Some(done) if seq <= done => Verdict::Duplicate,
            Some(done) if seq == done + 1 => {
                self.delivered = Some(seq);
                Verdict::Deliver(early)
            }
            _ => {
                self.known_head = self.known_head.max(seq);
                self.early.entry(seq).or_insert(early);
                Verdict::Held
            }
        }
    }

    /// The next held message that can go out now, marking it delivered. Held messages
    /// at or below the delivered seq are dropped on the way.
    pub fn next_early(&mut self) -> Option<Early> {
        let done = self.delivered?;
        while let Some(entry) = self.early.first_entry() {
            let seq = *entry.key();
            if seq <= done {
                entry.remove();
            } else if seq == done + 1 {
                self.delivered = Some(seq);
                return Some(entry.remove());
            } else {
                return None;
            }
        }
        None
    }

    /// The room's first join read the history up to `head`: live delivery starts after
    /// it. Later joins change nothing (the room's stream is already running).
    pub fn start_at(&mut self, head: u64) {
        if self.delivered.is_none() {
            self.delivered = Some(head);
        }
    }

    /// Another node says the room has reached `seq` (after Redis lost its messages).
    pub fn announce_head(&mut self, seq: u64) {
        self.known_head = self.known_head.max(seq);
    }

    /// The seq after which the database must be read, when messages are known to be
    /// missing and no fill is under way. Marks the fill as asked for.
    pub fn wants_fill(&mut self) -> Option<u64> {
        let done = self.delivered?;
        if self.filling || !self.has_gap() {
            return None;
        }
        self.filling = true;
        self.stale = false;
        Some(done)
    }

    /// The seq after which the database must be read because anything may have been
    /// missed (Redis was away), unless a fill is under way. Marks the fill as asked for.
    pub fn catch_up(&mut self) -> Option<u64> {
        let done = self.delivered?;
        if self.filling {
            // That fill may have read before what was missed was stored.
            self.stale = true;
            return None;
        }
        self.filling = true;
        Some(done)
    }

    /// A fill was delivered (or failed): another may be asked for.
    pub fn fill_done(&mut self) {
        self.filling = false;
    }

    /// Where delivery stands.
    #[cfg(test)]
    pub fn delivered(&self) -> Option<u64> {
        self.delivered
    }

    /// Whether messages are known (or, after Redis was away, feared) to be missing.
    pub fn has_gap(&self) -> bool {
        self.delivered
            .is_some_and(|done| self.known_head > done || self.stale)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn early(seq: u64) -> Early {
        Early {
            message: Box::new(Message {
                room: "r".into(),
                seq,
                id: String::new(),
                from: chat_protocol::User {
                    id: "u_a".into(),
                    name: "A".into(),
                },
                text: String::new(),
                ts: 0,
            }),
            plain: Bytes::from(seq.to_string()),
            own: None,
        }
    }

    fn verdict(sequence: &mut Sequence, seq: u64) -> &'static str {
        match sequence.offer(seq, early(seq)) {
            Verdict::Deliver(_) => "deliver",
            Verdict::Duplicate => "duplicate",
            Verdict::Held => "held",
        }
    }

    fn drain(sequence: &mut Sequence) -> Vec<String> {
        std::iter::from_fn(|| sequence.next_early())
            .map(|e| String::from_utf8(e.plain.to_vec()).unwrap_or_default())
            .collect()
    }

    #[test]
    fn in_order_messages_go_straight_out_and_repeats_are_dropped() {
        let mut sequence = Sequence::default();
        sequence.start_at(4);
        assert_eq!(verdict(&mut sequence, 5), "deliver");
        assert_eq!(verdict(&mut sequence, 6), "deliver");
        assert_eq!(verdict(&mut sequence, 6), "duplicate");
        assert_eq!(verdict(&mut sequence, 3), "duplicate");
        assert_eq!(sequence.wants_fill(), None);
    }

    #[test]
    fn a_message_that_overtook_its_predecessor_waits_for_it() {
        let mut sequence = Sequence::default();
        sequence.start_at(4);
        assert_eq!(verdict(&mut sequence, 6), "held");
        assert_eq!(verdict(&mut sequence, 7), "held");
        assert!(drain(&mut sequence).is_empty());
        assert_eq!(verdict(&mut sequence, 5), "deliver");
        assert_eq!(drain(&mut sequence), ["6", "7"]);
        assert_eq!(sequence.delivered(), Some(7));
        assert_eq!(sequence.wants_fill(), None, "nothing is missing any more");
    }

    #[test]
    fn a_gap_asks_for_one_fill_at_a_time_from_where_delivery_stands() {
        let mut sequence = Sequence::default();
        sequence.start_at(10);
        assert_eq!(verdict(&mut sequence, 13), "held");
        assert_eq!(sequence.wants_fill(), Some(10));
        assert_eq!(sequence.wants_fill(), None, "already asked");
        // The fill brings 11 and 12.
        assert_eq!(verdict(&mut sequence, 11), "deliver");
        assert_eq!(verdict(&mut sequence, 12), "deliver");
        sequence.fill_done();
        assert_eq!(drain(&mut sequence), ["13"]);
        assert!(!sequence.has_gap());
    }

    #[test]
    fn before_the_first_join_everything_is_held_and_the_join_decides_where_to_start() {
        let mut sequence = Sequence::default();
        assert_eq!(verdict(&mut sequence, 8), "held");
        assert_eq!(verdict(&mut sequence, 9), "held");
        assert_eq!(sequence.wants_fill(), None, "no start yet");
        // The join's history read saw up to 8.
        sequence.start_at(8);
        assert_eq!(drain(&mut sequence), ["9"]);
        sequence.start_at(3);
        assert_eq!(
            sequence.delivered(),
            Some(9),
            "a later join changes nothing"
        );
    }

    #[test]
    fn catching_up_during_a_fill_reads_again_after_it() {
        let mut sequence = Sequence::default();
        sequence.start_at(10);
        assert_eq!(verdict(&mut sequence, 12), "held");
        assert_eq!(sequence.wants_fill(), Some(10));
        // Redis comes back while that fill is under way: it may have read too early.
        assert_eq!(sequence.catch_up(), None);
        assert_eq!(verdict(&mut sequence, 11), "deliver");
        sequence.fill_done();
        assert_eq!(drain(&mut sequence), ["12"]);
        assert!(
            sequence.has_gap(),
            "nothing is known missing, but a read is due"
        );
        assert_eq!(sequence.wants_fill(), Some(12));
        sequence.fill_done();
        assert!(!sequence.has_gap());
    }

    #[test]
    fn an_announced_head_beyond_delivery_is_a_gap() {
        let mut sequence = Sequence::default();
        sequence.start_at(2);
        sequence.announce_head(2);
        assert!(!sequence.has_gap());
        sequence.announce_head(5);
        assert!(sequence.has_gap());
        assert_eq!(sequence.wants_fill(), Some(2));
    }
}
