//! A room's newest messages, kept in memory while the room has subscribers on this node,
//! so that a `join` (the last 50) and a rejoin with a recent `since` (everything after
//! it) are answered without reading the database. A reconnect storm is thousands of
//! such joins of the same few rooms within a second.
//!
//! The tail is exactly what was delivered here, in delivery order (which is seq order,
//! on one node and on several), so an answer from it fits the subscription it is for:
//! what the answer holds is up to the tail's head, and every later message reaches the
//! subscriber live. It only answers once it is *known*: seeded from a history read that
//! reached the room's head, joined without a gap to what was delivered since.

use chat_protocol::{DEFAULT_HISTORY, Message};
use std::collections::VecDeque;

/// Most messages a tail keeps: enough for a join's 50 and for a client that was away
/// for a few dozen messages (a rejoin with `since`), little enough to cost nothing.
pub(super) const MAX_MESSAGES: usize = 128;
/// Most bytes of text and names a tail keeps (long messages make a shorter tail, so a
/// room of 4000-character messages holds about 12 of them, not 128).
pub(super) const MAX_BYTES: usize = 48 * 1024;

/// What a tail answers for a join: the history, whether older messages exist, and the
/// seq of the newest message delivered here (where the history ends, or what it would
/// end at had anything been newer than `since`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct TailAnswer {
    pub history: Vec<Message>,
    pub more: bool,
    pub head: u64,
}

#[derive(Debug, Default)]
pub(super) struct Tail {
    /// Contiguous by seq, oldest first.
    messages: VecDeque<Message>,
    /// Bytes of text and names in `messages`.
    bytes: usize,
    /// The newest seq this tail holds or knows of (0: the room has no message).
    head: u64,
    /// `messages` are the room's newest, up to `head`, with nothing missing between
    /// them. Until then they are only what was delivered since the room appeared here,
    /// kept for the seeding read to join up with.
    known: bool,
}

fn weight(message: &Message) -> usize {
    message.text.len() + message.from.name.len() + message.from.id.len() + message.id.len()
}

impl Tail {
    /// A message delivered to the room's subscribers, in delivery order. One that is
    /// not the next after the head breaks the run: the tail is then unknown again until
    /// a read seeds it.
    pub fn record(&mut self, message: &Message) {
        let next = self.messages.back().map_or(self.head + 1, |m| m.seq + 1);
        if !self.messages.is_empty() || self.known {
            if message.seq < next {
                return;
            }
            if message.seq > next {
                self.forget();
            }
        }
        self.head = message.seq;
        self.bytes += weight(message);
        self.messages.push_back(message.clone());
        self.trim();
    }

    /// A history read that reached the room's newest message as the store had it
    /// (`more`: older messages exist). Seeds the tail when it joins up with what was
    /// delivered since the room appeared here.
    pub fn seed(&mut self, history: &[Message], more: bool) {
        if self.known || (history.is_empty() && more) {
            // Known already; or a read with nothing after a `since`, which does not
            // say where the room's head is.
            return;
        }
        let read_head = history.last().map_or(0, |m| m.seq);
        match self.messages.front().map(|m| m.seq) {
            // Delivered messages start after a gap the read does not cover.
            Some(run_first) if run_first > read_head + 1 => return,
            Some(run_first) => {
                let run_last = self.head;
                for message in history.iter().filter(|m| m.seq < run_first).rev() {
                    self.bytes += weight(message);
                    self.messages.push_front(message.clone());
                }
                // Several nodes: the read may have seen messages not delivered here yet.
                for message in history.iter().filter(|m| m.seq > run_last) {
                    self.bytes += weight(message);
                    self.messages.push_back(message.clone());
                    self.head = message.seq;
                }
            }
            None => {
                self.messages = history.iter().cloned().collect();
                self.bytes = history.iter().map(weight).sum();
                self.head = read_head;
            }
        }
        self.known = true;
        self.trim();
    }

    /// The history a join gets from memory, when the tail holds all of it: the newest
    /// 50 (or all there are), or with `since` every message after it. `None`: read the
    /// database.
    pub fn answer(&self, since: Option<u64>) -> Option<TailAnswer> {
        if !self.known {
            return None;
        }
        let first = self.messages.front().map_or(self.head + 1, |m| m.seq);
        let from_start = first <= 1;
        let history: Vec<Message> = match since {
            None if self.messages.len() >= DEFAULT_HISTORY || from_start => {
                let skip = self.messages.len().saturating_sub(DEFAULT_HISTORY);
                self.messages.iter().skip(skip).cloned().collect()
            }
            None => return None,
            // A client ahead of this node (or one that made its `since` up) is for the
            // database to answer, as is one that missed more than the tail holds.
            Some(since) if since > self.head || since + 1 < first => return None,
            Some(since) => {
                let skip = usize::try_from(since + 1 - first).unwrap_or(usize::MAX);
                self.messages.iter().skip(skip).cloned().collect()
            }
        };
        let more = match (history.first(), since) {
            (Some(oldest), _) => oldest.seq > 1,
            (None, since) => since.unwrap_or(0) > 0,
        };
        Some(TailAnswer {
            history,
            more,
            head: self.head,
        })
    }

    fn forget(&mut self) {
        self.messages.clear();
        self.bytes = 0;
        self.known = false;
    }

    fn trim(&mut self) {
        while self.messages.len() > MAX_MESSAGES || self.bytes > MAX_BYTES {
            match self.messages.pop_front() {
                Some(old) => self.bytes -= weight(&old),
                None => break,
            }
        }
        if self.messages.capacity() > 2 * self.messages.len() + 16 {
            self.messages.shrink_to_fit();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chat_protocol::User;

    fn message(seq: u64) -> Message {
        Message {
            room: "lobby".into(),
            seq,
            id: format!("id{seq}"),
            from: User {
                id: "u_a".into(),
                name: "Ada".into(),
            },
            text: format!("m{seq}"),
            ts: 0,
        }
    }

    fn messages(seqs: std::ops::RangeInclusive<u64>) -> Vec<Message> {
        seqs.map(message).collect()
    }

    fn seqs(answer: &TailAnswer) -> Vec<u64> {
        answer.history.iter().map(|m| m.seq).collect()
    }

    #[test]
    fn an_unseeded_tail_answers_nothing() {
        let mut tail = Tail::default();
        for m in messages(5..=60) {
            tail.record(&m);
        }
        assert_eq!(tail.answer(None), None, "what came before 5 is unknown");
        assert_eq!(tail.answer(Some(10)), None);
    }

    #[test]
    fn a_seeded_tail_answers_joins_as_the_database_would() {
        let mut tail = Tail::default();
        tail.seed(&messages(51..=100), true);
        let latest = tail.answer(None).expect("known");
        assert_eq!(seqs(&latest), (51..=100).collect::<Vec<_>>());
        assert!(latest.more);
        assert_eq!(latest.head, 100);
        tail.record(&message(101));
        let since = tail.answer(Some(97)).expect("recent since");
        assert_eq!(seqs(&since), [98, 99, 100, 101]);
        assert!(since.more);
        let nothing_new = tail.answer(Some(101)).expect("up to date");
        assert!(nothing_new.history.is_empty());
        assert_eq!((nothing_new.more, nothing_new.head), (true, 101));
        assert_eq!(
            tail.answer(Some(102)),
            None,
            "ahead of this node: ask the database"
        );
        assert_eq!(
            tail.answer(Some(10)),
            None,
            "missed more than the tail holds"
        );
        assert_eq!(
            seqs(&tail.answer(Some(50)).expect("from the tail's first")),
            (51..=101).collect::<Vec<_>>()
        );
    }

    #[test]
    fn a_short_room_is_answered_whole_and_an_empty_one_too() {
        let mut tail = Tail::default();
        tail.seed(&[], false);
        let empty = tail.answer(None).expect("an empty room is known");
        assert!(empty.history.is_empty() && !empty.more && empty.head == 0);
        tail.record(&message(1));
        tail.record(&message(2));
        let short = tail.answer(None).expect("whole room");
        assert_eq!((seqs(&short), short.more), (vec![1, 2], false));
        let since = tail.answer(Some(0)).expect("since 0");
        assert_eq!((seqs(&since), since.more), (vec![1, 2], false));
    }

    #[test]
    fn seeding_joins_the_read_to_what_was_delivered_meanwhile() {
        let mut tail = Tail::default();
        // Delivered while the first join read the database: 9 and 10 were committed
        // before the read (it saw them), 11 after it.
        for m in messages(9..=11) {
            tail.record(&m);
        }
        tail.seed(&messages(1..=10), false);
        let answer = tail.answer(None).expect("known");
        assert_eq!(seqs(&answer), (1..=11).collect::<Vec<_>>());
        assert!(!answer.more);
        // A repeat of a delivered message changes nothing.
        tail.record(&message(10));
        tail.record(&message(12));
        assert_eq!(tail.answer(Some(10)).map(|a| seqs(&a)), Some(vec![11, 12]));
    }

    #[test]
    fn a_read_that_ends_before_the_delivered_run_begins_does_not_seed() {
        let mut tail = Tail::default();
        for m in messages(20..=21) {
            tail.record(&m);
        }
        tail.seed(&messages(1..=10), false);
        assert_eq!(tail.answer(None), None);
        // A later read that reaches the run does.
        tail.seed(&messages(1..=19), false);
        assert_eq!(
            tail.answer(Some(18)).map(|a| seqs(&a)),
            Some(vec![19, 20, 21])
        );
    }

    #[test]
    fn a_read_ahead_of_delivery_extends_the_tail_and_later_deliveries_are_not_repeated() {
        let mut tail = Tail::default();
        tail.record(&message(5));
        // Several nodes: the read saw 6 and 7 before they were delivered here.
        tail.seed(&messages(1..=7), false);
        tail.record(&message(6));
        tail.record(&message(7));
        tail.record(&message(8));
        let answer = tail.answer(None).expect("known");
        assert_eq!(seqs(&answer), (1..=8).collect::<Vec<_>>());
    }

    #[test]
    fn a_gap_in_delivery_makes_the_tail_unknown() {
        let mut tail = Tail::default();
        tail.seed(&messages(1..=3), false);
        tail.record(&message(5));
        assert_eq!(tail.answer(None), None);
    }

    #[test]
    fn the_tail_is_bounded_in_count_and_bytes_and_then_answers_only_what_it_holds() {
        let mut tail = Tail::default();
        tail.seed(&[], false);
        for m in messages(1..=300) {
            tail.record(&m);
        }
        assert_eq!(tail.messages.len(), MAX_MESSAGES);
        let latest = tail.answer(None).expect("known");
        assert_eq!(seqs(&latest), (251..=300).collect::<Vec<_>>());
        assert!(latest.more);
        assert_eq!(tail.answer(Some(100)), None);
        let mut long = message(301);
        long.text = "x".repeat(4000);
        for seq in 301..=320 {
            long.seq = seq;
            tail.record(&long);
        }
        assert!(tail.bytes <= MAX_BYTES, "{} bytes kept", tail.bytes);
        assert!(tail.messages.len() < 20);
        assert_eq!(
            tail.answer(None),
            None,
            "fewer than 50 kept: the database answers"
        );
        let recent = tail.answer(Some(318)).expect("recent since");
        assert_eq!(seqs(&recent), [319, 320]);
    }
}
