//! Presence across nodes: who is in each room anywhere, `system` join and leave once per
//! user across every node and tab, and nodes that die taking their users with them.
//!
//! The hub counts a user's tabs on this node; this module hears of a user's first tab
//! here and last tab here, and asks Redis (one script each, in order, from one task)
//! whether that is also their first or last anywhere. Only then is it announced, by the
//! script itself, through the room's channel to every node (this one too), with the
//! room's count after it; each node's hub then sends a `system` frame, or in a big room
//! holds it for the room's next `presence` frame.
//!
//! Every node holds a lease that it renews every [`RENEW_EVERY`]; a lease that lapses
//! (the node died) is swept by the first node to notice, which announces its users'
//! departures. While Redis is away, arrivals and departures are announced on this node
//! only; when it is back, the node makes Redis agree with what it holds (the
//! `RECONCILE` script) and tells the others what changed meanwhile.

use super::keys::Keys;
use super::scripts;
use crate::hub::{Hub, RoomMembers};
use crate::metrics::Metrics;
use chat_protocol::{SystemEvent, User};
use redis::aio::ConnectionManager;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{mpsc, oneshot};
use tokio_util::sync::CancellationToken;

/// How often a node renews its lease and looks for dead nodes.
pub const RENEW_EVERY: Duration = Duration::from_secs(3);
/// How long a lease lasts unrenewed: a node is gone this long after it died, and its
/// users are swept at most one [`RENEW_EVERY`] later (12 s in all, within the 15 s the
/// protocol promises).
pub const LEASE: Duration = Duration::from_secs(9);

/// The pseudo-room of "online anywhere": a user is present in it while any of their
/// connections is open on any node. Never announced.
pub const ONLINE: &str = "";

enum Op {
    Arrive {
        room: String,
        user: User,
        members: Option<oneshot::Sender<Option<RoomMembers>>>,
    },
    Depart {
        room: String,
        user: User,
    },
    /// Make Redis agree with this node.
    Reconcile,
    /// Look for nodes whose lease lapsed, and renew this node's.
    Renew,
}

/// What this node holds, for [`Op::Reconcile`]: every present user by room (the users
/// online here under [`ONLINE`]).
pub trait LocalPresence: Send + Sync {
    fn held(&self) -> Vec<(String, User)>;
}

/// A handle to the presence task; cheap to clone.
#[derive(Clone)]
pub struct Presence {
    ops: mpsc::UnboundedSender<Op>,
    health: Arc<super::health::RedisHealth>,
}

impl Presence {
    #[allow(clippy::too_many_arguments)]
    pub fn start(
        node: Arc<str>,
        keys: Keys,
        connection: ConnectionManager,
        hub: Arc<Hub>,
        metrics: Arc<Metrics>,
        local: Arc<dyn LocalPresence>,
        health: Arc<super::health::RedisHealth>,
        pair_grace: Duration,
        tracker: &tokio_util::task::TaskTracker,
        stop: CancellationToken,
    ) -> Presence {
        let (ops, rx) = mpsc::unbounded_channel();
        let worker = Worker {
            node,
            keys,
            connection,
            hub,
            metrics,
            local,
            health: health.clone(),
            pair_grace_ms: u64::try_from(pair_grace.as_millis()).unwrap_or(u64::MAX),
            out_of_step: true,
        };
        tracker.spawn(worker.run(rx, stop.clone()));
        let presence = Presence { ops, health };
        let ticker = presence.clone();
        tracker.spawn(async move {
            let mut renew = tokio::time::interval(RENEW_EVERY);
            loop {
                tokio::select! {
                    () = stop.cancelled() => return,
                    _ = renew.tick() => {
                        if ticker.ops.send(Op::Renew).is_err() {
                            return;
                        }
                    }
                }
            }
        });
        presence
    }

    /// The user's first tab in the room on this node. Answers the room's members as
    /// the cluster sees them, or `None` when Redis is away (this node's count then
    /// stands in).
    pub async fn arrive(&self, room: &str, user: &User) -> Option<RoomMembers> {
        let (tx, rx) = oneshot::channel();
        let op = Op::Arrive {
            room: room.to_owned(),
            user: user.clone(),
            members: Some(tx),
        };
        self.ops.send(op).ok()?;
        rx.await.ok().flatten()
    }

    /// Like [`Presence::arrive`], without waiting for the members.
    pub fn arrive_later(&self, room: &str, user: &User) {
        let _ = self.ops.send(Op::Arrive {
            room: room.to_owned(),
            user: user.clone(),
            members: None,
        });
    }

    /// The user's last tab in the room on this node closed.
    pub fn depart(&self, room: &str, user: &User) {
        let _ = self.ops.send(Op::Depart {
            room: room.to_owned(),
            user: user.clone(),
        });
    }

    /// Redis may have lost track of this node (it was away): register everything again.
    /// Until that is done the node does not count as up (`/healthz`).
    pub fn reconcile(&self) {
        self.health.presence(false);
        let _ = self.ops.send(Op::Reconcile);
    }
}

struct Worker {
    node: Arc<str>,
    keys: Keys,
    connection: ConnectionManager,
    hub: Arc<Hub>,
    metrics: Arc<Metrics>,
    local: Arc<dyn LocalPresence>,
    health: Arc<super::health::RedisHealth>,
    /// How long a seat of an anonymous pair may be away before the pair closes: the
    /// scripts start that clock when the seat's last connection anywhere leaves.
    pair_grace_ms: u64,
    /// Redis may not agree with this node (it was away, or this node just started):
    /// changes are announced here only until a reconcile succeeds.
    out_of_step: bool,
}

impl Worker {
    async fn run(mut self, mut ops: mpsc::UnboundedReceiver<Op>, stop: CancellationToken) {
        loop {
            let op = tokio::select! {
                () = stop.cancelled() => return,
                op = ops.recv() => match op {
                    Some(op) => op,
                    None => return,
                },
            };
            match op {
                Op::Arrive {
                    room,
                    user,
                    members,
                } => {
                    let listed = self.arrive(&room, &user, members.is_some()).await;
                    if let Some(members) = members {
                        let _ = members.send(listed);
                    }
                }
                Op::Depart { room, user } => self.depart(&room, &user).await,
                Op::Reconcile => self.reconcile().await,
                Op::Renew => self.renew().await,
            }
        }
    }

    async fn arrive(&mut self, room: &str, user: &User, list: bool) -> Option<RoomMembers> {
        if self.out_of_step {
            self.announce_here(room, SystemEvent::Join, user);
            return None;
        }
        let json = serde_json::to_string(user).ok()?;
        let mut invocation = scripts::ARRIVE.prepare_invoke();
        invocation
            .arg(self.keys.namespace())
            .arg(&*self.node)
            .arg(room)
            .arg(&user.id)
            .arg(json)
            .arg(if list { "1" } else { "0" })
            .arg(self.keys.room_channel(""))
            .arg(self.hub.big_room());
        self.metrics.redis_commands.inc();
        match invocation
            .invoke_async::<Vec<String>>(&mut self.connection)
            .await
        {
            Ok(reply) => {
                self.health.commands(true);
                if list {
                    room_members(reply.get(1..).unwrap_or_default(), self.hub.big_room())
                } else {
                    None
                }
            }
            Err(err) => {
                self.lost_step(&err);
                self.announce_here(room, SystemEvent::Join, user);
                None
            }
        }
    }

    async fn depart(&mut self, room: &str, user: &User) {
        if self.out_of_step {
            self.announce_here(room, SystemEvent::Leave, user);
            return;
        }
        let mut invocation = scripts::DEPART.prepare_invoke();
        invocation
            .arg(self.keys.namespace())
            .arg(&*self.node)
            .arg(room)
            .arg(&user.id)
            .arg(self.pair_grace_ms)
            .arg(self.keys.room_channel(""));
        self.metrics.redis_commands.inc();
        match invocation
            .invoke_async::<Option<String>>(&mut self.connection)
            .await
        {
            Ok(_) => self.health.commands(true),
            Err(err) => {
                self.lost_step(&err);
                self.announce_here(room, SystemEvent::Leave, user);
            }
        }
    }

    async fn reconcile(&mut self) {
        let held = self.local.held();
        let mut invocation = scripts::RECONCILE.prepare_invoke();
        invocation
            .arg(self.keys.namespace())
            .arg(&*self.node)
            .arg(self.pair_grace_ms)
            .arg(self.keys.room_channel(""));
        for (room, user) in &held {
            let Ok(json) = serde_json::to_string(user) else {
                continue;
            };
            invocation.arg(room).arg(&user.id).arg(json);
        }
        self.metrics.redis_commands.inc();
        match invocation.invoke_async::<u64>(&mut self.connection).await {
            Ok(changes) => {
                self.health.commands(true);
                if self.out_of_step {
                    tracing::info!(
                        present = held.len(),
                        changes,
                        "presence registered in Redis"
                    );
                }
                self.out_of_step = false;
                self.health.presence(true);
            }
            Err(err) => self.lost_step(&err),
        }
    }

    async fn renew(&mut self) {
        let mut invocation = scripts::RENEW.prepare_invoke();
        invocation
            .arg(self.keys.namespace())
            .arg(&*self.node)
            .arg(u64::try_from(LEASE.as_millis()).unwrap_or(u64::MAX));
        self.metrics.redis_commands.inc();
        match invocation.invoke_async::<i64>(&mut self.connection).await {
            Ok(state) => {
                self.health.commands(true);
                self.metrics.lease_renewals.inc();
                if state != 3 || self.out_of_step {
                    if state != 3 && !self.out_of_step {
                        tracing::warn!(state, "Redis lost this node's presence: registering again");
                    }
                    self.reconcile().await;
                }
            }
            Err(err) => {
                self.lost_step(&err);
                return;
            }
        }
        self.sweep().await;
    }

    /// Removes the presence of every node whose lease lapsed, announcing who left.
    async fn sweep(&mut self) {
        self.metrics.redis_commands.inc();
        let nodes: Vec<String> = match redis::cmd("SMEMBERS")
            .arg(self.keys.nodes())
            .query_async(&mut self.connection)
            .await
        {
            Ok(nodes) => nodes,
            Err(err) => return self.lost_step(&err),
        };
        for node in nodes.iter().filter(|n| n.as_str() != &*self.node) {
            let mut invocation = scripts::SWEEP.prepare_invoke();
            invocation
                .arg(self.keys.namespace())
                .arg(node)
                .arg(self.pair_grace_ms)
                .arg(self.keys.room_channel(""));
            self.metrics.redis_commands.inc();
            let left: Vec<String> = match invocation.invoke_async(&mut self.connection).await {
                Ok(left) => left,
                Err(err) => return self.lost_step(&err),
            };
            // The script announced the departures.
            if !left.is_empty() {
                tracing::info!(%node, left = left.len() / 2, "a node's lease lapsed: its users left");
            }
        }
    }

    fn lost_step(&mut self, err: &redis::RedisError) {
        if !self.out_of_step {
            tracing::warn!(error = %err, "Redis is away: presence is this node's until it is back");
        }
        self.out_of_step = true;
        self.health.commands(false);
        self.health.presence(false);
    }

    /// While Redis is away, a change is this node's own to announce, with its own count.
    fn announce_here(&self, room: &str, event: SystemEvent, user: &User) {
        if room != ONLINE && !room.starts_with("~pair.") {
            self.hub.presence_change(room, event, user, None);
        }
    }
}

/// A room's members from a script's `listing` (the count, then the users' JSON): in a
/// big room in id order as Redis listed them, otherwise in the hub's order (by name,
/// then id).
pub fn room_members(reply: &[String], big_room: usize) -> Option<RoomMembers> {
    let (online, listed) = reply.split_first()?;
    let online: u32 = online.parse().ok()?;
    let mut listed = users_from_json(listed);
    if online as usize <= big_room {
        listed.sort_by(|a, b| a.name.cmp(&b.name).then_with(|| a.id.cmp(&b.id)));
    }
    Some(RoomMembers { listed, online })
}

/// Users as Redis keeps them, one JSON object each (one that does not decode is skipped:
/// a list of members is worth more than an error).
pub fn users_from_json(found: &[String]) -> Vec<User> {
    found
        .iter()
        .filter_map(|json| serde_json::from_str(json).ok())
        .collect()
}
