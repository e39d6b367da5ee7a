//! Who waits for a stranger, and who is matched with whom: pure rules, no I/O, no clock
//! of its own (the caller passes `now`), so every rule is a plain unit test.

use crate::hub::ConnId;
use chat_protocol::User;
use std::collections::HashSet;
use std::time::Duration;
use tokio::time::Instant;

/// One user waiting for a partner.
#[derive(Debug, Clone)]
pub struct Ticket {
    /// The real user (never shown to the partner).
    pub user: User,
    /// The connection that asked: it gets `matched`.
    pub conn: ConnId,
    /// Lowercase tags without repeats.
    pub interests: Vec<String>,
    /// Users this one must not meet: blocked either way, and the previous partner.
    pub avoid: HashSet<String>,
    pub since: Instant,
}

/// Two tickets that make a pair, the one who waited longer first.
#[derive(Debug)]
pub struct Match {
    pub first: Ticket,
    pub second: Ticket,
    /// The tags both gave, in the first ticket's order.
    pub common: Vec<String>,
}

/// The waiting line, oldest first.
#[derive(Debug)]
pub struct Queue {
    waiting: Vec<Ticket>,
    /// How long a ticket with interests holds out for a partner who shares one.
    widen_after: Duration,
}

impl Queue {
    pub fn new(widen_after: Duration) -> Self {
        Queue {
            waiting: Vec::new(),
            widen_after,
        }
    }

    pub fn len(&self) -> usize {
        self.waiting.len()
    }

    #[cfg(test)]
    pub fn contains(&self, user_id: &str) -> bool {
        self.waiting.iter().any(|t| t.user.id == user_id)
    }

    /// Takes a user out of the line; true when they were in it.
    pub fn remove_user(&mut self, user_id: &str) -> bool {
        let before = self.waiting.len();
        self.waiting.retain(|t| t.user.id != user_id);
        self.waiting.len() != before
    }

    /// Gives a waiting user's place to another of their connections (the one that asked
    /// last gets `matched`); false when the user is not waiting.
    pub fn move_to(&mut self, user_id: &str, conn: ConnId) -> bool {
        match self.waiting.iter_mut().find(|t| t.user.id == user_id) {
            Some(ticket) => {
                ticket.conn = conn;
                true
            }
            None => false,
        }
    }

    /// Takes out the ticket a connection holds (it went away); true when there was one.
    pub fn remove_conn(&mut self, conn: ConnId) -> bool {
        let before = self.waiting.len();
        self.waiting.retain(|t| t.conn != conn);
        self.waiting.len() != before
    }

    /// Adds a ticket, or matches it at once with the best waiting partner: the longest
    /// waiting of those who share an interest, else the longest waiting of those who
    /// will take anyone (when this ticket will too).
    pub fn push(&mut self, ticket: Ticket, now: Instant) -> Option<Match> {
        match self.best_partner(&ticket, None, now) {
            Some(index) => {
                let first = self.waiting.remove(index);
                Some(pair(first, ticket))
            }
            None => {
                // In order of waiting: a ticket that waits again keeps its old place.
                let place = self.waiting.partition_point(|t| t.since <= ticket.since);
                self.waiting.insert(place, ticket);
                None
            }
        }
    }

    /// The matches that waiting has made possible by `now`: a ticket whose holding out
    /// for a shared interest is over takes anyone who will take it.
    pub fn widen(&mut self, now: Instant) -> Vec<Match> {
        let mut made = Vec::new();
        let mut i = 0;
        while i < self.waiting.len() {
            let ticket = &self.waiting[i];
            if !self.takes_anyone(ticket, now) || ticket.interests.is_empty() {
                // Tickets without interests were matched on arrival if they could be.
                i += 1;
                continue;
            }
            match self.best_partner(ticket, Some(i), now) {
                Some(j) => {
                    // Remove the later index first so the earlier one stays valid.
                    let (older, newer) = (i.min(j), i.max(j));
                    let second = self.waiting.remove(newer);
                    let first = self.waiting.remove(older);
                    made.push(pair(first, second));
                }
                None => i += 1,
            }
        }
        made
    }

    /// When the next waiting ticket stops holding out for a shared interest.
    pub fn next_widening(&self, now: Instant) -> Option<Instant> {
        self.waiting
            .iter()
            .filter(|t| !t.interests.is_empty())
            .map(|t| t.since + self.widen_after)
            .filter(|at| *at > now)
            .min()
    }

    fn takes_anyone(&self, ticket: &Ticket, now: Instant) -> bool {
        ticket.interests.is_empty() || now.duration_since(ticket.since) >= self.widen_after
    }

    /// The index of the best partner for `ticket` (which sits at `skip`, if queued).
    fn best_partner(&self, ticket: &Ticket, skip: Option<usize>, now: Instant) -> Option<usize> {
        let mut fallback = None;
        for (index, other) in self.waiting.iter().enumerate() {
            if Some(index) == skip || !may_meet(ticket, other) {
                continue;
            }
            if shares_interest(ticket, other) {
                return Some(index);
            }
            if fallback.is_none() && self.takes_anyone(ticket, now) && self.takes_anyone(other, now)
            {
                fallback = Some(index);
            }
        }
        fallback
    }
}

/// Never yourself, never someone either of you avoids.
fn may_meet(a: &Ticket, b: &Ticket) -> bool {
    a.user.id != b.user.id && !a.avoid.contains(&b.user.id) && !b.avoid.contains(&a.user.id)
}

fn shares_interest(a: &Ticket, b: &Ticket) -> bool {
    a.interests.iter().any(|tag| b.interests.contains(tag))
}

fn pair(first: Ticket, second: Ticket) -> Match {
    let common = first
        .interests
        .iter()
        .filter(|tag| second.interests.contains(tag))
        .cloned()
        .collect();
    let (first, second) = if second.since < first.since {
        (second, first)
    } else {
        (first, second)
    };
    Match {
        first,
        second,
        common,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const WIDEN: Duration = Duration::from_secs(10);

    fn ticket(id: &str, interests: &[&str], since: Instant) -> Ticket {
        Ticket {
            user: User {
                id: id.into(),
                name: id.to_uppercase(),
            },
            conn: id.bytes().map(u64::from).sum(),
            interests: interests.iter().map(|t| t.to_string()).collect(),
            avoid: HashSet::new(),
            since,
        }
    }

    fn ids(m: &Match) -> (&str, &str) {
        (&m.first.user.id, &m.second.user.id)
    }

    #[test]
    fn the_longest_waiting_is_matched_first() {
        let t0 = Instant::now();
        let mut queue = Queue::new(WIDEN);
        // "a" and "b" may not meet, so both wait; "c" then meets the older one.
        let mut a = ticket("a", &[], t0);
        let mut b = ticket("b", &[], t0 + Duration::from_secs(1));
        a.avoid.insert("b".into());
        b.avoid.insert("a".into());
        assert!(queue.push(a, t0).is_none());
        assert!(queue.push(b, t0).is_none());
        let m = queue
            .push(ticket("c", &[], t0 + Duration::from_secs(2)), t0)
            .expect("c meets someone");
        assert_eq!(ids(&m), ("a", "c"), "a waited longest");
        assert_eq!(queue.len(), 1);
    }

    #[test]
    fn nobody_meets_themself_a_blocked_user_or_their_last_partner() {
        let t0 = Instant::now();
        let mut queue = Queue::new(WIDEN);
        assert!(queue.push(ticket("a", &[], t0), t0).is_none());
        assert!(
            queue.push(ticket("a", &[], t0), t0).is_none(),
            "never yourself"
        );
        let mut queue = Queue::new(WIDEN);
        let mut b = ticket("b", &[], t0);
        b.avoid.insert("a".into());
        assert!(queue.push(ticket("a", &[], t0), t0).is_none());
        assert!(queue.push(b, t0).is_none(), "b avoids a");
        let mut c = ticket("c", &[], t0);
        c.avoid.insert("a".into());
        let m = queue.push(c, t0).expect("c may meet b");
        assert_eq!(ids(&m), ("b", "c"));
    }

    #[test]
    fn a_shared_interest_beats_waiting_longer() {
        let t0 = Instant::now();
        let mut queue = Queue::new(WIDEN);
        // "old" takes anyone and waited longest, but "rusty" shares a tag with "new".
        assert!(queue.push(ticket("old", &[], t0), t0).is_none());
        let mut rusty = ticket("rusty", &["rust", "go"], t0);
        rusty.avoid.insert("old".into());
        assert!(queue.push(rusty, t0).is_none());
        let m = queue
            .push(ticket("new", &["go"], t0), t0)
            .expect("shares go");
        assert_eq!(ids(&m), ("rusty", "new"));
        assert_eq!(m.common, vec!["go".to_owned()]);
    }

    #[test]
    fn interests_hold_out_until_the_wait_is_over_then_anyone_will_do() {
        let t0 = Instant::now();
        let mut queue = Queue::new(WIDEN);
        assert!(queue.push(ticket("a", &["rust"], t0), t0).is_none());
        assert!(queue.push(ticket("b", &["go"], t0), t0).is_none());
        assert!(
            queue.push(ticket("c", &[], t0), t0).is_none(),
            "a and b hold out"
        );
        assert_eq!(queue.next_widening(t0), Some(t0 + WIDEN));
        assert!(
            queue
                .widen(t0 + WIDEN - Duration::from_millis(1))
                .is_empty()
        );
        let made = queue.widen(t0 + WIDEN);
        let pairs: Vec<_> = made.iter().map(ids).collect();
        assert_eq!(pairs, vec![("a", "b")], "the two oldest meet: {pairs:?}");
        assert!(made[0].common.is_empty());
        assert_eq!(queue.len(), 1);
        assert_eq!(queue.next_widening(t0 + WIDEN), None);
    }

    #[test]
    fn a_ticket_that_waits_again_keeps_its_place() {
        let t0 = Instant::now();
        let later = t0 + Duration::from_secs(5);
        let mut queue = Queue::new(WIDEN);
        assert!(queue.push(ticket("new", &["x"], later), later).is_none());
        // Back in line after a match was undone: it waited since t0.
        assert!(queue.push(ticket("old", &["y"], t0), later).is_none());
        let m = queue
            .push(ticket("both", &["x", "y"], later), later)
            .expect("shares with both");
        assert_eq!(ids(&m), ("old", "both"));
    }

    #[test]
    fn a_waiting_place_moves_to_another_connection() {
        let t0 = Instant::now();
        let mut queue = Queue::new(WIDEN);
        assert!(queue.push(ticket("a", &[], t0), t0).is_none());
        assert!(queue.move_to("a", 99));
        assert!(!queue.move_to("b", 99));
        let m = queue.push(ticket("b", &[], t0), t0).expect("a meets b");
        assert_eq!(m.first.conn, 99);
    }

    #[test]
    fn leaving_the_line_by_user_or_by_connection() {
        let t0 = Instant::now();
        let mut queue = Queue::new(WIDEN);
        let a = ticket("a", &["x"], t0);
        let conn = a.conn;
        assert!(queue.push(a, t0).is_none());
        assert!(queue.push(ticket("b", &["y"], t0), t0).is_none());
        assert!(queue.remove_conn(conn));
        assert!(!queue.contains("a"));
        assert!(queue.remove_user("b"));
        assert!(!queue.remove_user("b"));
        assert_eq!(queue.len(), 0);
    }
}
