//! Pairing within one process: the line and the open pairs behind one short lock, the
//! store for what must outlive the process, and one task for what time decides (a
//! ticket that stops holding out for a shared interest, a member gone too long).

use super::Pairing;
use super::queue::{Match, Queue, Ticket};
use crate::clock::now_ms;
use crate::hub::{ConnId, Hub};
use crate::metrics::Metrics;
use crate::roster::{Control, Roster};
use crate::store::{CloseReason, PairRecord, Seat, Store};
use async_trait::async_trait;
use chat_protocol::User;
use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;
use tokio::sync::Notify;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

/// The times pairing runs on (flags of the server).
#[derive(Debug, Clone, Copy)]
pub struct PairingSettings {
    /// How long a ticket with interests holds out for a partner who shares one.
    pub widen_after: Duration,
    /// How long a member may have no connection in the pair before it closes.
    pub grace: Duration,
}

/// An open pair and which of its members are there.
#[derive(Debug)]
struct OpenPair {
    record: PairRecord,
    /// Connections of each seat subscribed to the room.
    present: [u32; 2],
    /// Since when each seat has had none.
    absent_since: [Option<Instant>; 2],
}

impl OpenPair {
    fn seat_index(&self, user_id: &str) -> Option<usize> {
        self.record
            .seats
            .iter()
            .position(|seat| seat.user.id == user_id)
    }
}

#[derive(Debug)]
struct State {
    queue: Queue,
    open: HashMap<String, OpenPair>,
    /// User id to the room of their open pair.
    pair_of: HashMap<String, String>,
}

/// The line and the open pairs of this process.
pub struct LocalPairing {
    state: Mutex<State>,
    /// Wakes the timer task when a deadline may have moved closer.
    wake: Notify,
    settings: PairingSettings,
    store: Arc<dyn Store>,
    hub: Arc<Hub>,
    roster: Arc<dyn Roster>,
    metrics: Arc<Metrics>,
}

impl LocalPairing {
    /// Starts with the pairs the store has open (a restarted server): each member then
    /// has the grace period to come back.
    pub async fn restore(
        settings: PairingSettings,
        store: Arc<dyn Store>,
        hub: Arc<Hub>,
        roster: Arc<dyn Roster>,
        metrics: Arc<Metrics>,
    ) -> Result<LocalPairing, crate::store::StoreError> {
        let now = Instant::now();
        let mut open = HashMap::new();
        let mut pair_of = HashMap::new();
        for record in store.open_pairs().await? {
            for seat in &record.seats {
                pair_of.insert(seat.user.id.clone(), record.room.clone());
            }
            open.insert(record.room.clone(), absent_pair(record, now));
        }
        Ok(LocalPairing {
            state: Mutex::new(State {
                queue: Queue::new(settings.widen_after),
                open,
                pair_of,
            }),
            wake: Notify::new(),
            settings,
            store,
            hub,
            roster,
            metrics,
        })
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // Critical sections are plain map and queue updates that leave them consistent.
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Runs what time decides until `stop`: widening the line, closing abandoned pairs.
    pub async fn run_timers(self: Arc<Self>, stop: CancellationToken) {
        // The next deadline is taken as of the instant the last round acted on, not a
        // fresh one: a ticket whose widening fell due while that round ran would
        // otherwise be in the past, left out, and never widen (seen under load).
        let mut acted_at = Instant::now();
        loop {
            let deadline = self.next_deadline(acted_at);
            let sleep = async {
                match deadline {
                    Some(at) => tokio::time::sleep_until(at).await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                () = stop.cancelled() => return,
                () = self.wake.notified() => {}
                () = sleep => {}
            }
            acted_at = Instant::now();
            self.on_time(acted_at).await;
        }
    }

    fn next_deadline(&self, now: Instant) -> Option<Instant> {
        let state = self.lock();
        let absence = state
            .open
            .values()
            .flat_map(|pair| pair.absent_since.iter().flatten())
            .map(|since| *since + self.settings.grace)
            .min();
        [state.queue.next_widening(now), absence]
            .into_iter()
            .flatten()
            .min()
    }

    async fn on_time(&self, now: Instant) {
        let (reserved, gone) = {
            let mut state = self.lock();
            let matches = state.queue.widen(now);
            let reserved = self.reserve(&mut state, matches, now);
            let grace = self.settings.grace;
            let gone: Vec<(String, String)> = state
                .open
                .iter()
                .filter_map(|(room, pair)| {
                    let seat = pair
                        .absent_since
                        .iter()
                        .position(|since| since.is_some_and(|s| s + grace <= now))?;
                    Some((room.clone(), pair.record.seats[seat].user.id.clone()))
                })
                .collect();
            (reserved, gone)
        };
        for (record, made) in reserved {
            self.open_pair(record, made).await;
        }
        for (room, user_id) in gone {
            self.close(&room, &user_id, CloseReason::Gone).await;
        }
    }

    /// Turns matches into pairs reserved under the lock. A match one of whose askers
    /// has gone is undone (the other waits again, in their old place, and may meet
    /// someone else at once); the members of each pair are marked as in it before
    /// anything awaits, so that no other `match` of theirs can make a second pair.
    fn reserve(
        &self,
        state: &mut State,
        mut made: Vec<Match>,
        now: Instant,
    ) -> Vec<(PairRecord, Match)> {
        let mut reserved = Vec::new();
        while let Some(next) = made.pop() {
            let alive = |t: &Ticket| self.roster.is_connected(&t.user.id, t.conn);
            match (alive(&next.first), alive(&next.second)) {
                (true, true) => {
                    let record = new_pair(&next);
                    for seat in &record.seats {
                        state
                            .pair_of
                            .insert(seat.user.id.clone(), record.room.clone());
                    }
                    reserved.push((record, next));
                }
                (true, false) => made.extend(state.queue.push(next.first, now)),
                (false, true) => made.extend(state.queue.push(next.second, now)),
                (false, false) => {}
            }
        }
        self.metrics.match_queue.set(state.queue.len() as i64);
        reserved
    }

    /// Opens a reserved pair: stores it (before anyone can act on it), then tells both
    /// asking connections.
    async fn open_pair(&self, record: PairRecord, made: Match) {
        let now = Instant::now();
        self.metrics
            .matched_after(now.duration_since(made.first.since));
        self.metrics
            .matched_after(now.duration_since(made.second.since));
        self.metrics.pairs_opened.inc();
        if let Err(err) = self.store.open_pair(&record).await {
            // The pair still works in this process; only its moderation record and a
            // restart's memory of it are lost, which the log says.
            tracing::error!(error = %err, room = %record.room, "cannot store a new pair");
        }
        self.lock()
            .open
            .insert(record.room.clone(), absent_pair(record.clone(), now));
        let [a, b] = &record.seats;
        for (ticket, (you, peer)) in [(&made.first, (a, b)), (&made.second, (b, a))] {
            let told = self.roster.tell_conn(
                &ticket.user.id,
                ticket.conn,
                Control::Matched {
                    room: record.room.clone(),
                    you: User::alias(&you.alias),
                    peer: User::alias(&peer.alias),
                    common: record.common.clone(),
                },
            );
            if !told {
                tracing::debug!(room = %record.room, "a matched connection had gone; the grace period decides");
            }
        }
        self.wake.notify_one();
    }
}

#[async_trait]
impl Pairing for LocalPairing {
    async fn enqueue(&self, ticket: Ticket) -> Result<bool, super::Unavailable> {
        let now = Instant::now();
        let reserved = {
            let mut state = self.lock();
            if state.pair_of.contains_key(&ticket.user.id)
                || state.queue.move_to(&ticket.user.id, ticket.conn)
            {
                return Ok(false);
            }
            let made = state.queue.push(ticket, now);
            self.reserve(&mut state, made.into_iter().collect(), now)
        };
        // A ticket left waiting with interests has a widening deadline now.
        self.wake.notify_one();
        for (record, made) in reserved {
            self.open_pair(record, made).await;
        }
        Ok(true)
    }

    async fn move_ticket(&self, user_id: &str, conn: ConnId) -> bool {
        self.lock().queue.move_to(user_id, conn)
    }

    async fn cancel(&self, user_id: &str) -> bool {
        let mut state = self.lock();
        let removed = state.queue.remove_user(user_id);
        self.metrics.match_queue.set(state.queue.len() as i64);
        removed
    }

    async fn connection_closed(&self, _user_id: &str, conn: ConnId) {
        let mut state = self.lock();
        if state.queue.remove_conn(conn) {
            self.metrics.match_queue.set(state.queue.len() as i64);
        }
    }

    async fn open_pair_of(&self, user_id: &str) -> Option<String> {
        self.lock().pair_of.get(user_id).cloned()
    }

    async fn open_seats(&self, room: &str, user_id: &str) -> Option<(Seat, Seat)> {
        let state = self.lock();
        let (you, peer) = state.open.get(room)?.record.seats_of(user_id)?;
        Some((you.clone(), peer.clone()))
    }

    fn present(&self, room: &str, user_id: &str) {
        let mut state = self.lock();
        if let Some(pair) = state.open.get_mut(room)
            && let Some(seat) = pair.seat_index(user_id)
        {
            pair.present[seat] += 1;
            pair.absent_since[seat] = None;
        }
    }

    fn absent(&self, room: &str, user_id: &str) {
        {
            let mut state = self.lock();
            let Some(pair) = state.open.get_mut(room) else {
                return;
            };
            let Some(seat) = pair.seat_index(user_id) else {
                return;
            };
            pair.present[seat] = pair.present[seat].saturating_sub(1);
            if pair.present[seat] > 0 {
                return;
            }
            pair.absent_since[seat] = Some(Instant::now());
        }
        self.wake.notify_one();
    }

    async fn close(&self, room: &str, closer_id: &str, reason: CloseReason) -> Option<PairRecord> {
        let record = {
            let mut state = self.lock();
            state.open.get(room)?.record.seats_of(closer_id)?;
            let pair = state.open.remove(room)?;
            for seat in &pair.record.seats {
                if state.pair_of.get(&seat.user.id).map(String::as_str) == Some(room) {
                    state.pair_of.remove(&seat.user.id);
                }
            }
            pair.record
        };
        let (closer, _) = record.seats_of(closer_id)?;
        let closed_ms = super::record_closing(&*self.store, &self.metrics, room, reason).await;
        self.hub.announce(
            room,
            &super::closing_notice(room, &closer.alias, closed_ms),
            &closer.alias,
        );
        Some(super::closer_leaves(
            &*self.roster,
            record,
            closer_id,
            closed_ms,
        ))
    }
}

/// A pair whose members have yet to join (or, after a restart, to come back).
fn absent_pair(record: PairRecord, now: Instant) -> OpenPair {
    OpenPair {
        record,
        present: [0, 0],
        absent_since: [Some(now), Some(now)],
    }
}

/// A new pair for a match: a random room and two random aliases, which share nothing
/// with the real ids.
fn new_pair(made: &Match) -> PairRecord {
    let (room, [first, second]) = super::fresh_pair_names();
    let seat = |ticket: &Ticket, alias: String| Seat {
        user: ticket.user.clone(),
        alias,
    };
    PairRecord {
        room,
        seats: [seat(&made.first, first), seat(&made.second, second)],
        common: made.common.clone(),
        opened_ms: now_ms(),
        closed_ms: None,
    }
}
