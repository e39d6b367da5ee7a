//! Several nodes as one server: PostgreSQL is the record, Redis carries everything live.
//!
//! - **Messages**: after a batch commits, this node delivers it to its own subscribers
//!   (the journal, as on one node) and publishes it once per room to the room's channel.
//!   Each node follows only the channels of rooms it has subscribers for. Every node
//!   delivers each room's messages in seq order, once: a message that comes with a gap is
//!   held, and the gap is read from the database (`fill`); after Redis was away, every
//!   room with subscribers here is read from where its delivery stands.
//! - **Presence**: `presence` (Lua scripts in `scripts`): arrivals and departures once
//!   per user across nodes, leases, sweeping dead nodes.
//! - **Typing and notices** travel through a room's channel; **controls** for a user
//!   (subscribe to a direct room, a match) through the user's channel (`roster`).
//!
//! Nothing here waits on Redis on a message's way: publishing is queued (`publisher`),
//! and while Redis is away nodes keep storing and delivering locally.

mod bus;
mod envelope;
mod fill;
mod health;
mod inbound;
mod keys;
mod pairing;
mod pairing_scripts;
mod presence;
mod publisher;
mod roster;
mod scripts;

pub use health::RedisHealth;
pub use keys::Keys;
pub use pairing::RedisPairing;
pub use presence::{LEASE, RENEW_EVERY};

use crate::hub::{Hub, MemberPage, RoomMembers};
use crate::journal::CommitObserver;
use crate::metrics::Metrics;
use crate::roster::{LocalRoster, Roster};
use crate::store::Store;
use anyhow::Context;
use bus::Bus;
use chat_protocol::{Message, ServerFrame, User};
use envelope::Event;
use presence::{LocalPresence, ONLINE, Presence};
use publisher::Publisher;
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use std::collections::HashMap;
use std::sync::{Arc, OnceLock};
use std::time::Duration;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

/// How long a mark of [`Cluster::mark_once`] lasts without being cleared.
const MARKS_TTL: Duration = Duration::from_secs(30 * 24 * 3600);

/// A command to Redis that takes longer than this counts as failed.
const RESPONSE_TIMEOUT: Duration = Duration::from_secs(1);

/// How a node joins its cluster (from the server's flags).
#[derive(Debug, Clone, Copy)]
pub struct Settings<'a> {
    pub redis_url: &'a str,
    /// Prefixes every key and channel, so that deployments can share a Redis.
    pub namespace: &'a str,
    /// How long a seat of an anonymous pair may be away (the presence scripts keep
    /// that clock).
    pub pair_grace: Duration,
}

/// This node's part in a cluster.
pub struct Cluster {
    node: Arc<str>,
    keys: Keys,
    hub: Arc<Hub>,
    bus: Bus,
    publisher: Publisher,
    presence: Presence,
    connection: ConnectionManager,
    pub health: Arc<RedisHealth>,
    roster: Arc<roster::ClusterRoster>,
}

impl Cluster {
    /// Connects to Redis and starts this node's tasks: subscribing, publishing,
    /// presence and its lease, and filling gaps from the database.
    pub fn start(
        settings: &Settings<'_>,
        store: Arc<dyn Store>,
        hub: Arc<Hub>,
        metrics: Arc<Metrics>,
        tracker: &TaskTracker,
        stop: CancellationToken,
    ) -> anyhow::Result<Arc<Cluster>> {
        let Settings {
            redis_url,
            namespace,
            pair_grace,
        } = *settings;
        let client = redis::Client::open(redis_url)
            .with_context(|| format!("invalid Redis URL {redis_url:?}"))?;
        let config = ConnectionManagerConfig::new()
            .set_response_timeout(Some(RESPONSE_TIMEOUT))
            .set_connection_timeout(Some(RESPONSE_TIMEOUT))
            .set_number_of_retries(1)
            .set_max_delay(Duration::from_secs(1));
        let connection = client
            .get_connection_manager_lazy(config)
            .context("creating the Redis connection")?;
        let node: Arc<str> = Arc::from(crate::ids::random_token(&mut rand::rng(), 12));
        let keys = Keys::new(namespace);
        let health = Arc::new(RedisHealth::new(metrics.clone()));
        let local = Arc::new(LocalRoster::default());

        let (gaps, gap_rx) = tokio::sync::mpsc::unbounded_channel();
        hub.join_cluster(gaps);
        tracker.spawn(fill::run(
            gap_rx,
            store,
            hub.clone(),
            metrics.clone(),
            stop.clone(),
        ));

        let applier = Arc::new(inbound::Applier {
            node: node.clone(),
            keys: keys.clone(),
            hub: hub.clone(),
            roster: local.clone(),
            metrics: metrics.clone(),
            presence: OnceLock::new(),
        });
        let bus = Bus::start(
            client,
            applier.clone(),
            health.clone(),
            tracker,
            stop.clone(),
        );
        let publisher = Publisher::start(
            node.clone(),
            connection.clone(),
            keys.clone(),
            health.clone(),
            metrics.clone(),
            tracker,
            stop.clone(),
        );
        let held = Arc::new(Held {
            hub: hub.clone(),
            roster: local.clone(),
        });
        let presence = Presence::start(
            node.clone(),
            keys.clone(),
            connection.clone(),
            hub.clone(),
            metrics,
            held,
            health.clone(),
            pair_grace,
            tracker,
            stop,
        );
        let _ = applier.presence.set(presence.clone());
        let roster = Arc::new(roster::ClusterRoster {
            node: node.clone(),
            keys: keys.clone(),
            local,
            bus: bus.clone(),
            publisher: publisher.clone(),
            presence: presence.clone(),
            connection: connection.clone(),
            health: health.clone(),
        });
        tracing::info!(%node, namespace, "joined the cluster");
        Ok(Arc::new(Cluster {
            node,
            keys,
            hub,
            bus,
            publisher,
            presence,
            connection,
            health,
            roster,
        }))
    }

    /// This node's id (random per start).
    pub fn node(&self) -> &str {
        &self.node
    }

    /// The roster to use: controls reach a user's connections on every node.
    pub fn roster(&self) -> Arc<dyn Roster> {
        self.roster.clone()
    }

    /// A connection joined a room. `first_tab`: the user's first connection in it here;
    /// `new_room`: the room's first subscriber here. Returns the cluster's members of
    /// the room, or `None` (when Redis is away, or nothing changed for the user) so
    /// that the hub's own list stands.
    ///
    /// A new room's channel is subscribed before this returns, so that the history the
    /// join reads next and the live messages that follow leave nothing between them.
    pub async fn joined(
        &self,
        room: &str,
        user: &User,
        first_tab: bool,
        new_room: bool,
    ) -> Option<RoomMembers> {
        let watching = async {
            if new_room {
                self.bus.watch(self.keys.room_channel(room)).await;
            }
        };
        let arriving = async {
            if first_tab {
                self.presence.arrive(room, user).await
            } else {
                self.members(room).await
            }
        };
        let ((), members) = tokio::join!(watching, arriving);
        members
    }

    /// A connection left a room (see [`crate::hub::Unsubscribed`]).
    pub fn left(&self, room: &str, last_tab: Option<&User>, room_gone: bool) {
        if let Some(user) = last_tab {
            self.presence.depart(room, user);
        }
        if room_gone {
            self.bus.unwatch(self.keys.room_channel(room));
        }
    }

    /// The members of a room anywhere (in a big room only the first), when Redis
    /// answers.
    async fn members(&self, room: &str) -> Option<RoomMembers> {
        if !self.health.is_up() {
            return None;
        }
        let mut connection = self.connection.clone();
        let mut invocation = scripts::LIST.prepare_invoke();
        invocation
            .arg(self.keys.namespace())
            .arg(room)
            .arg(self.hub.big_room());
        let reply: Vec<String> = invocation.invoke_async(&mut connection).await.ok()?;
        presence::room_members(&reply, self.hub.big_room())
    }

    /// Up to `limit` members of a room anywhere with ids after `after`, in id order;
    /// `None` when Redis does not answer.
    pub async fn member_page(
        &self,
        room: &str,
        after: Option<&str>,
        limit: usize,
    ) -> Option<MemberPage> {
        if !self.health.is_up() {
            return None;
        }
        let mut connection = self.connection.clone();
        let mut invocation = scripts::PAGE.prepare_invoke();
        invocation
            .arg(self.keys.namespace())
            .arg(room)
            .arg(after.unwrap_or(""))
            .arg(limit);
        let reply: Vec<String> = invocation.invoke_async(&mut connection).await.ok()?;
        let [online, more, listed @ ..] = reply.as_slice() else {
            return None;
        };
        Some(MemberPage {
            members: presence::users_from_json(listed),
            online: online.parse().ok()?,
            more: more == "1",
        })
    }

    /// Tells the room's other users anywhere that `user` is (or stopped) typing.
    pub fn typing(&self, room: &str, user: &User, active: bool) {
        self.hub.typing(room, user, active);
        self.publisher.publish(
            self.keys.room_channel(room),
            Event::Typing {
                room: room.to_owned(),
                user: user.clone(),
                active,
            },
        );
    }

    /// Sends a notice to every subscriber of a room anywhere but the member `except`.
    pub fn announce(&self, room: &str, frame: &ServerFrame, except: &str) {
        self.hub.announce(room, frame, except);
        self.publisher.publish(
            self.keys.room_channel(room),
            Event::Notice {
                room: room.to_owned(),
                frame: frame.clone(),
                except: except.to_owned(),
            },
        );
    }

    /// Marks `key` for `user_id` in the cluster-wide set `set`; true when it was not
    /// marked yet. When Redis does not answer it says true: for what this serves (the
    /// bot's "told once"), telling twice is better than never. Marks go after `MARKS_TTL`.
    pub async fn mark_once(&self, set: &str, user_id: &str, key: &str) -> bool {
        let name = self.keys.user_marks(set, user_id);
        let mut connection = self.connection.clone();
        let marked: Result<(i64, i64), _> = redis::pipe()
            .cmd("SADD")
            .arg(&name)
            .arg(key)
            .cmd("EXPIRE")
            .arg(&name)
            .arg(MARKS_TTL.as_secs())
            .query_async(&mut connection)
            .await;
        match marked {
            Ok((added, _)) => added == 1,
            Err(err) => {
                tracing::warn!(error = %err, set, "cannot mark in Redis; acting as if unmarked");
                true
            }
        }
    }

    /// Removes every mark of `user_id` in `set`.
    pub async fn unmark_all(&self, set: &str, user_id: &str) {
        let mut connection = self.connection.clone();
        let removed: Result<i64, _> = redis::cmd("DEL")
            .arg(self.keys.user_marks(set, user_id))
            .query_async(&mut connection)
            .await;
        if let Err(err) = removed {
            tracing::warn!(error = %err, set, "cannot clear marks in Redis");
        }
    }

    /// Online users of every room that has any, as the cluster counts them; `None`
    /// when Redis does not answer.
    pub async fn room_counts(&self) -> Option<Vec<crate::hub::Presence>> {
        if !self.health.is_up() {
            return None;
        }
        let mut connection = self.connection.clone();
        let found: Vec<(String, f64)> = redis::cmd("ZRANGE")
            .arg(self.keys.online_rooms())
            .arg(0)
            .arg(-1)
            .arg("WITHSCORES")
            .query_async(&mut connection)
            .await
            .ok()?;
        Some(
            found
                .into_iter()
                .filter(|(room, online)| room != ONLINE && *online >= 1.0)
                .map(|(room, online)| crate::hub::Presence {
                    room,
                    online: online as u32,
                })
                .collect(),
        )
    }
}

/// After a commit: one publish per room of the batch, with its messages in seq order.
impl CommitObserver for Cluster {
    fn committed(&self, _message: &Message) {}

    fn batch_committed(&self, messages: &[Message]) {
        let mut index: HashMap<&str, usize> = HashMap::new();
        let mut by_room: Vec<(&str, Vec<Message>)> = Vec::new();
        for message in messages {
            let at = *index.entry(&message.room).or_insert_with(|| {
                by_room.push((&message.room, Vec::new()));
                by_room.len() - 1
            });
            by_room[at].1.push(message.clone());
        }
        for (room, messages) in by_room {
            self.publisher
                .publish(self.keys.room_channel(room), Event::Messages { messages });
        }
    }
}

/// What this node holds, read from the hub and the roster.
struct Held {
    hub: Arc<Hub>,
    roster: Arc<LocalRoster>,
}

impl LocalPresence for Held {
    fn held(&self) -> Vec<(String, User)> {
        let mut held = self.hub.local_members();
        held.extend(
            self.roster
                .users()
                .into_iter()
                .map(|id| (ONLINE.to_owned(), User::alias(&id))),
        );
        held
    }
}
