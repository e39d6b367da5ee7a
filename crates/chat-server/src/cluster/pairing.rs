//! The stranger line and the open pairs of a cluster, in Redis: every step is one
//! script (`pairing_scripts`), so two nodes can never hand out the same ticket, and a
//! pair closes once whichever node closes it.
//!
//! The node that makes a match stores the pair (before anyone can act on it) and tells
//! both asking connections, on whatever node each is, through the user's channel. A
//! seat's grace runs in Redis too: the presence scripts start it when the seat's last
//! connection anywhere leaves the pair room (or its node dies and is swept) and stop it
//! when one comes back; every node asks in turn for the pairs whose grace is over.

use super::Cluster;
use super::envelope::{ConnTarget, Event};
use super::pairing_scripts as scripts;
use crate::clock::now_ms;
use crate::hub::ConnId;
use crate::metrics::Metrics;
use crate::pairing::{
    Pairing, PairingSettings, Ticket, Unavailable, closer_leaves, closing_notice, fresh_pair_names,
    record_closing,
};
use crate::roster::{Control, Roster};
use crate::store::{CloseReason, PairRecord, Seat, Store};
use async_trait::async_trait;
use chat_protocol::User;
use serde::{Deserialize, Serialize};
use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashSet};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::mpsc;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

/// How often a node asks for pairs whose grace is over, at most: a pair closes at most
/// this long after its grace (less when the grace is short, as in tests).
const CLOSE_DUE_EVERY: Duration = Duration::from_secs(1);

/// A ticket as the scripts keep it.
#[derive(Serialize)]
struct TicketOut<'a> {
    user: &'a User,
    node: &'a str,
    conn: ConnId,
    interests: &'a [String],
    avoid: Vec<&'a str>,
}

/// What the scripts hand back of a ticket that was matched.
#[derive(Deserialize)]
struct TicketIn {
    user: User,
    node: String,
    conn: ConnId,
    /// When it started waiting, in Redis' clock (ms).
    since: i64,
}

#[derive(Serialize, Deserialize)]
struct SeatJson {
    user: User,
    alias: String,
}

/// A pair record as Redis keeps it (open, so without a closing time).
#[derive(Serialize, Deserialize)]
struct RecordJson {
    room: String,
    seats: [SeatJson; 2],
    common: Vec<String>,
    opened_ms: i64,
}

impl From<RecordJson> for PairRecord {
    fn from(json: RecordJson) -> PairRecord {
        let [a, b] = json.seats;
        let seat = |s: SeatJson| Seat {
            user: s.user,
            alias: s.alias,
        };
        PairRecord {
            room: json.room,
            seats: [seat(a), seat(b)],
            common: json.common,
            opened_ms: json.opened_ms,
            closed_ms: None,
        }
    }
}

fn record_json(record: &PairRecord) -> Option<String> {
    let seat = |s: &Seat| SeatJson {
        user: s.user.clone(),
        alias: s.alias.clone(),
    };
    serde_json::to_string(&RecordJson {
        room: record.room.clone(),
        seats: [seat(&record.seats[0]), seat(&record.seats[1])],
        common: record.common.clone(),
        opened_ms: record.opened_ms,
    })
    .ok()
}

fn parse_record(raw: &str) -> Option<PairRecord> {
    match serde_json::from_str::<RecordJson>(raw) {
        Ok(json) => Some(json.into()),
        Err(err) => {
            tracing::error!(error = %err, "a pair in Redis did not decode");
            None
        }
    }
}

fn millis(duration: Duration) -> u64 {
    u64::try_from(duration.as_millis()).unwrap_or(u64::MAX)
}

/// The line and the open pairs of every node.
pub struct RedisPairing {
    cluster: Arc<Cluster>,
    settings: PairingSettings,
    store: Arc<dyn Store>,
    metrics: Arc<Metrics>,
    /// Connections of this node that asked for a stranger (some may have been matched
    /// or cancelled since): only their closing needs a word with Redis.
    asked_here: std::sync::Mutex<HashSet<ConnId>>,
    /// The newest version of the line's length reported so far (see `with_length`).
    line_version: std::sync::Mutex<u64>,
    /// Tickets of this node with interests, for the timer that widens them.
    widenings: mpsc::UnboundedSender<(Instant, String)>,
    widening_rx: std::sync::Mutex<Option<mpsc::UnboundedReceiver<(Instant, String)>>>,
}

impl RedisPairing {
    pub fn new(
        cluster: Arc<Cluster>,
        settings: PairingSettings,
        store: Arc<dyn Store>,
        metrics: Arc<Metrics>,
    ) -> RedisPairing {
        let (widenings, rx) = mpsc::unbounded_channel();
        RedisPairing {
            cluster,
            settings,
            store,
            metrics,
            asked_here: std::sync::Mutex::default(),
            line_version: std::sync::Mutex::new(0),
            widenings,
            widening_rx: std::sync::Mutex::new(Some(rx)),
        }
    }

    fn asked_here(&self) -> std::sync::MutexGuard<'_, HashSet<ConnId>> {
        self.asked_here
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Runs a script, counting the command.
    async fn run<T: redis::FromRedisValue>(
        &self,
        invocation: &redis::ScriptInvocation<'_>,
    ) -> redis::RedisResult<T> {
        self.metrics.redis_commands.inc();
        invocation.invoke_async(&mut self.connection()).await
    }

    fn connection(&self) -> redis::aio::ConnectionManager {
        self.cluster.connection.clone()
    }

    fn namespace(&self) -> &str {
        self.cluster.keys.namespace()
    }

    /// Runs until `stop`: widening this node's tickets when their time comes, closing
    /// pairs whose grace is over, and putting the database's open pairs back into
    /// Redis whenever it (re)appears (a first start, or a Redis that lost its data).
    pub async fn run_timers(self: Arc<Self>, stop: CancellationToken) {
        let taken = self
            .widening_rx
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .take();
        let Some(mut new_widenings) = taken else {
            return;
        };
        let mut due: BinaryHeap<Reverse<(Instant, String)>> = BinaryHeap::new();
        let every = CLOSE_DUE_EVERY
            .min(self.settings.grace / 2)
            .max(Duration::from_millis(50));
        let mut close_tick = tokio::time::interval(every);
        close_tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut restored = false;
        loop {
            let next = due.peek().map(|Reverse((at, _))| *at);
            let widen_sleep = async {
                match next {
                    Some(at) => tokio::time::sleep_until(at).await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                () = stop.cancelled() => return,
                new = new_widenings.recv() => match new {
                    Some(entry) => due.push(Reverse(entry)),
                    None => return,
                },
                () = widen_sleep => {
                    let now = Instant::now();
                    while due.peek().is_some_and(|Reverse((at, _))| *at <= now) {
                        if let Some(Reverse((_, user_id))) = due.pop()
                            && let Some(again) = self.widen(&user_id).await
                        {
                            due.push(Reverse((again, user_id)));
                        }
                    }
                }
                _ = close_tick.tick() => {
                    if !self.cluster.health.is_up() {
                        restored = false;
                        // Redis may come back without its data, counting versions anew.
                        *self.line_version() = 0;
                        continue;
                    }
                    if !restored {
                        restored = self.restore().await;
                    }
                    self.close_due().await;
                }
            }
        }
    }

    /// Puts the database's open pairs that Redis does not know back; true when done.
    async fn restore(&self) -> bool {
        let open = match self.store.open_pairs().await {
            Ok(open) => open,
            Err(err) => {
                tracing::warn!(error = %err, "cannot read the open pairs; trying again");
                return false;
            }
        };
        let mut invocation = scripts::RESTORE.prepare_invoke();
        invocation
            .arg(self.namespace())
            .arg(millis(self.settings.grace));
        for record in &open {
            let Some(json) = record_json(record) else {
                continue;
            };
            let [a, b] = &record.seats;
            invocation
                .arg(&record.room)
                .arg(json)
                .arg(&a.user.id)
                .arg(&b.user.id)
                .arg(&a.alias)
                .arg(&b.alias);
        }
        match self.run::<u64>(&invocation).await {
            Ok(restored) => {
                if restored > 0 {
                    tracing::info!(restored, "open pairs put back into Redis");
                }
                true
            }
            Err(err) => {
                tracing::warn!(error = %err, "cannot put the open pairs into Redis");
                false
            }
        }
    }

    /// A ticket of this node may have stopped holding out for a shared interest.
    /// Returns when to try again: when it will have (it moved here from a node that
    /// knew, or the clocks disagree), or soon after Redis failed.
    async fn widen(&self, user_id: &str) -> Option<Instant> {
        let mut invocation = scripts::WIDEN.prepare_invoke();
        invocation.arg(self.namespace()).arg(user_id);
        self.add_match_args(&mut invocation);
        match self.run::<Vec<String>>(&invocation).await {
            Ok(reply) => {
                let again = match reply.as_slice() {
                    [kind, due, now, ..] if kind == "waiting" => {
                        let (due, now) = (due.parse::<u64>().ok()?, now.parse::<u64>().ok()?);
                        (due > now).then(|| Instant::now() + Duration::from_millis(due - now))
                    }
                    _ => None,
                };
                self.settle(reply).await;
                again
            }
            Err(err) => {
                tracing::warn!(error = %err, "cannot widen a waiting ticket; trying again");
                Some(Instant::now() + CLOSE_DUE_EVERY)
            }
        }
    }

    /// Asks the timer to look at a ticket that moved to this node now (its old node
    /// may be gone with the timer that would have widened it).
    fn watch_widening(&self, user_id: &str) {
        let _ = self.widenings.send((Instant::now(), user_id.to_owned()));
    }

    fn line_version(&self) -> std::sync::MutexGuard<'_, u64> {
        self.line_version
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// What a script that may make a match takes after its first two arguments: the
    /// times, and the names of the pair it would open.
    fn add_match_args(&self, invocation: &mut redis::ScriptInvocation<'_>) {
        let (room, [first, second]) = fresh_pair_names();
        invocation
            .arg(millis(self.settings.widen_after))
            .arg(millis(self.settings.grace))
            .arg(room)
            .arg(first)
            .arg(second);
    }

    /// Acts on a script's reply: reports the line's length, opens a match.
    async fn settle(&self, reply: Vec<String>) {
        self.report_length(&reply);
        if let [kind, record, first, second, _, _] = reply.as_slice()
            && kind == "matched"
        {
            self.opened(record, first, second).await;
        }
    }

    /// Sets `chat_match_queue` from a reply's last two fields, unless a newer length
    /// was reported already (replies of concurrent scripts may come in any order).
    fn report_length(&self, reply: &[String]) {
        let [.., version, length] = reply else {
            return;
        };
        let (Ok(version), Ok(length)) = (version.parse::<u64>(), length.parse::<i64>()) else {
            return;
        };
        let mut newest = self.line_version();
        if version > *newest {
            *newest = version;
            self.metrics.match_queue.set(length);
        }
    }

    /// A match was made here: store the pair, then tell both asking connections. A
    /// match with a connection of this node that has gone meanwhile is undone first.
    async fn opened(&self, record: &str, first_raw: &str, second_raw: &str) {
        let Some(record) = parse_record(record) else {
            return;
        };
        let tickets: Vec<TicketIn> = [first_raw, second_raw]
            .iter()
            .filter_map(|raw| serde_json::from_str(raw).ok())
            .collect();
        let [first, second] = tickets.as_slice() else {
            tracing::error!(room = %record.room, "a matched ticket did not decode");
            return;
        };
        let live: Vec<&str> = [(first, first_raw), (second, second_raw)]
            .into_iter()
            .filter(|(ticket, _)| self.may_be_connected(ticket))
            .map(|(_, raw)| raw)
            .collect();
        if live.len() < 2 && self.undo(&record.room, &live).await {
            return;
        }
        let now = now_ms();
        for ticket in [first, second] {
            let waited = u64::try_from(now.saturating_sub(ticket.since)).unwrap_or(0);
            self.metrics.matched_after(Duration::from_millis(waited));
        }
        self.metrics.pairs_opened.inc();
        if let Err(err) = self.store.open_pair(&record).await {
            tracing::error!(error = %err, room = %record.room, "cannot store a new pair");
        }
        let [a, b] = &record.seats;
        for (ticket, (you, peer)) in [(first, (a, b)), (second, (b, a))] {
            let control = Control::Matched {
                room: record.room.clone(),
                you: User::alias(&you.alias),
                peer: User::alias(&peer.alias),
                common: record.common.clone(),
            };
            self.tell_conn(ticket, control);
        }
    }

    /// Whether a ticket's connection may still be there: on this node the roster knows;
    /// on another, only that node does (and the pair's grace covers it if not).
    fn may_be_connected(&self, ticket: &TicketIn) -> bool {
        *ticket.node != *self.cluster.node
            || self
                .cluster
                .roster
                .local
                .is_connected(&ticket.user.id, ticket.conn)
    }

    /// Takes a match back before anyone is told; the `live` tickets wait again. False
    /// when that failed (the pair then stands, and its grace decides).
    async fn undo(&self, room: &str, live: &[&str]) -> bool {
        let mut invocation = scripts::UNDO.prepare_invoke();
        invocation.arg(self.namespace()).arg(room);
        for ticket in live {
            invocation.arg(*ticket);
        }
        match self.run::<Vec<String>>(&invocation).await {
            Ok(reply) => {
                self.report_length(&reply);
                tracing::debug!(%room, "a match with a connection that had gone was undone");
                true
            }
            Err(err) => {
                tracing::warn!(error = %err, %room, "cannot undo a match; the grace period decides");
                false
            }
        }
    }

    /// Tells one connection somewhere in the cluster.
    fn tell_conn(&self, ticket: &TicketIn, control: Control) {
        let cluster = &self.cluster;
        if *ticket.node == *cluster.node {
            if !cluster
                .roster
                .local
                .tell_conn(&ticket.user.id, ticket.conn, control)
            {
                tracing::debug!("a matched connection had gone; the grace period decides");
            }
            return;
        }
        cluster.publisher.publish(
            cluster.keys.user_channel(&ticket.user.id),
            Event::Control {
                target: Some(ConnTarget {
                    node: ticket.node.clone(),
                    conn: ticket.conn,
                }),
                control,
                except: None,
            },
        );
    }

    /// Closes the pairs whose grace is over (each once, cluster-wide).
    async fn close_due(&self) {
        let mut invocation = scripts::CLOSE_DUE.prepare_invoke();
        invocation.arg(self.namespace());
        let closed: Vec<String> = match self.run(&invocation).await {
            Ok(closed) => closed,
            Err(err) => {
                tracing::warn!(error = %err, "cannot look for abandoned pairs");
                return;
            }
        };
        self.report_length(&closed);
        let triples = &closed[..closed.len().saturating_sub(2)];
        for triple in triples.chunks_exact(3) {
            let (alias, raw) = (&triple[1], &triple[2]);
            let Some(record) = parse_record(raw) else {
                continue;
            };
            let Some(gone) = record.seats.iter().find(|s| s.alias == *alias) else {
                continue;
            };
            let gone = gone.user.id.clone();
            self.closed(record, &gone, CloseReason::Gone).await;
        }
    }

    /// A pair was closed in Redis on behalf of `closer_id`: store it, tell the partner
    /// and the closer's other connections.
    async fn closed(
        &self,
        record: PairRecord,
        closer_id: &str,
        reason: CloseReason,
    ) -> Option<PairRecord> {
        let (closer, _) = record.seats_of(closer_id)?;
        let room = record.room.as_str();
        let closed_ms = record_closing(&*self.store, &self.metrics, room, reason).await;
        self.cluster.announce(
            room,
            &closing_notice(room, &closer.alias, closed_ms),
            &closer.alias,
        );
        Some(closer_leaves(
            &*self.cluster.roster,
            record,
            closer_id,
            closed_ms,
        ))
    }

    async fn cancel_ticket(&self, user_id: &str, only: Option<ConnId>) -> bool {
        let mut invocation = scripts::CANCEL.prepare_invoke();
        invocation.arg(self.namespace()).arg(user_id);
        match only {
            Some(conn) => invocation.arg(&*self.cluster.node).arg(conn),
            None => invocation.arg("").arg(0),
        };
        match self.run::<Vec<String>>(&invocation).await {
            Ok(reply) => {
                self.report_length(&reply);
                reply.first().map(String::as_str) == Some("cancelled")
            }
            Err(err) => {
                tracing::warn!(error = %err, "cannot take a ticket out of the line");
                false
            }
        }
    }
}

#[async_trait]
impl Pairing for RedisPairing {
    async fn enqueue(&self, ticket: Ticket) -> Result<bool, Unavailable> {
        let out = TicketOut {
            user: &ticket.user,
            node: &self.cluster.node,
            conn: ticket.conn,
            interests: &ticket.interests,
            avoid: ticket.avoid.iter().map(String::as_str).collect(),
        };
        let json = serde_json::to_string(&out).map_err(|e| Unavailable(e.to_string()))?;
        // Before the script: should its reply be lost, this connection's closing still
        // voids whatever ticket it left.
        self.asked_here().insert(ticket.conn);
        let mut invocation = scripts::ENQUEUE.prepare_invoke();
        invocation.arg(self.namespace()).arg(json);
        self.add_match_args(&mut invocation);
        let reply: Vec<String> = self
            .run(&invocation)
            .await
            .map_err(|e| Unavailable(e.to_string()))?;
        let kind = reply.first().map(String::as_str);
        let queued = kind == Some("queued") || kind == Some("matched");
        match kind {
            Some("queued") if !ticket.interests.is_empty() => {
                let at = Instant::now() + self.settings.widen_after;
                let _ = self.widenings.send((at, ticket.user.id.clone()));
            }
            // The place moved here: this node keeps its time from now on (the script
            // says when it is due).
            Some("waiting") => self.watch_widening(&ticket.user.id),
            _ => {}
        }
        self.settle(reply).await;
        Ok(queued)
    }

    async fn move_ticket(&self, user_id: &str, conn: ConnId) -> bool {
        let mut invocation = scripts::MOVE.prepare_invoke();
        invocation
            .arg(self.namespace())
            .arg(user_id)
            .arg(&*self.cluster.node)
            .arg(conn);
        match self.run::<i64>(&invocation).await {
            Ok(moved) => {
                if moved == 1 {
                    self.asked_here().insert(conn);
                    self.watch_widening(user_id);
                }
                moved == 1
            }
            Err(err) => {
                tracing::warn!(error = %err, "cannot move a waiting ticket");
                false
            }
        }
    }

    async fn cancel(&self, user_id: &str) -> bool {
        self.cancel_ticket(user_id, None).await
    }

    async fn connection_closed(&self, user_id: &str, conn: ConnId) {
        // Most connections never asked: their closing costs Redis nothing.
        let asked = self.asked_here().remove(&conn);
        if asked {
            self.cancel_ticket(user_id, Some(conn)).await;
        }
    }

    async fn open_pair_of(&self, user_id: &str) -> Option<String> {
        self.metrics.redis_commands.inc();
        redis::cmd("HGET")
            .arg(self.cluster.keys.pair_of())
            .arg(user_id)
            .query_async::<Option<String>>(&mut self.connection())
            .await
            .unwrap_or_else(|err| {
                tracing::warn!(error = %err, "cannot look up a user's open pair");
                None
            })
    }

    async fn open_seats(&self, room: &str, user_id: &str) -> Option<(Seat, Seat)> {
        self.metrics.redis_commands.inc();
        let raw = redis::cmd("HGET")
            .arg(self.cluster.keys.pairs())
            .arg(room)
            .query_async::<Option<String>>(&mut self.connection())
            .await
            .unwrap_or_else(|err| {
                tracing::warn!(error = %err, "cannot look up an open pair");
                None
            })?;
        let record = parse_record(&raw)?;
        let (you, peer) = record.seats_of(user_id)?;
        Some((you.clone(), peer.clone()))
    }

    /// Nothing to do here: a seat's presence in the pair room is the cluster's presence
    /// (the connection joined the room under its alias), whose scripts stop the seat's
    /// grace when its first connection anywhere arrives.
    fn present(&self, _room: &str, _user_id: &str) {}

    /// As [`RedisPairing::present`]: the presence scripts start the grace when the
    /// seat's last connection anywhere leaves, and a swept node's seats count as left.
    fn absent(&self, _room: &str, _user_id: &str) {}

    async fn close(&self, room: &str, closer_id: &str, reason: CloseReason) -> Option<PairRecord> {
        let mut invocation = scripts::CLOSE.prepare_invoke();
        invocation.arg(self.namespace()).arg(room).arg(closer_id);
        let raw = match self.run::<Option<String>>(&invocation).await {
            Ok(raw) => raw?,
            Err(err) => {
                tracing::warn!(error = %err, %room, "cannot close a pair");
                return None;
            }
        };
        let record = parse_record(&raw)?;
        self.closed(record, closer_id, reason).await
    }
}
