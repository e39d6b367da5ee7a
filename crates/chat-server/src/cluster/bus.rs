//! The subscribing side of Redis: one connection that follows the channels this node
//! needs (a room's while it has subscribers here, a user's while they are connected
//! here), comes back by itself after Redis goes away, subscribes everything again, and
//! only then says so, so that catching up from the database cannot miss what arrives
//! meanwhile.

use super::health::RedisHealth;
use futures_util::StreamExt;
use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{mpsc, oneshot};
use tokio_util::sync::CancellationToken;

/// How long a subscription may take before a join goes on without it (Redis is then
/// treated as away, and the room is caught up from the database when it is back).
const SUBSCRIBE_TIMEOUT: Duration = Duration::from_secs(2);
/// How long connecting may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);
/// How often the link is checked, so that a dead connection is noticed even when no
/// event comes.
const PING_EVERY: Duration = Duration::from_secs(2);
/// Waits between attempts to reach Redis again.
const RETRY_MIN: Duration = Duration::from_millis(100);
const RETRY_MAX: Duration = Duration::from_secs(2);
/// Channels subscribed in one command when subscribing everything again.
const RESUBSCRIBE_CHUNK: usize = 512;

/// What the bus tells the rest of the cluster.
pub trait Inbound: Send + Sync {
    /// A message arrived on a channel.
    fn received(&self, channel: &str, payload: &[u8]);
    /// The link came back after being away, with every channel subscribed again:
    /// whatever was published meanwhile is lost to this node.
    fn resubscribed(&self);
}

enum Request {
    Watch {
        channel: String,
        done: Option<oneshot::Sender<()>>,
    },
    Unwatch {
        channel: String,
    },
}

/// A handle to the subscribing task.
#[derive(Clone)]
pub struct Bus {
    requests: mpsc::UnboundedSender<Request>,
}

impl Bus {
    /// Starts the subscribing task; it runs until `stop`.
    pub fn start(
        client: redis::Client,
        inbound: Arc<dyn Inbound>,
        health: Arc<RedisHealth>,
        tracker: &tokio_util::task::TaskTracker,
        stop: CancellationToken,
    ) -> Bus {
        let (requests, rx) = mpsc::unbounded_channel();
        tracker.spawn(run(client, rx, inbound, health, stop));
        Bus { requests }
    }

    /// Subscribes to a channel and waits until Redis confirmed it (or is away: then the
    /// channel is subscribed when it is back).
    pub async fn watch(&self, channel: String) {
        let (done, confirmed) = oneshot::channel();
        let request = Request::Watch {
            channel,
            done: Some(done),
        };
        if self.requests.send(request).is_ok() {
            let _ = tokio::time::timeout(SUBSCRIBE_TIMEOUT, confirmed).await;
        }
    }

    pub fn unwatch(&self, channel: String) {
        let _ = self.requests.send(Request::Unwatch { channel });
    }
}

async fn run(
    client: redis::Client,
    mut requests: mpsc::UnboundedReceiver<Request>,
    inbound: Arc<dyn Inbound>,
    health: Arc<RedisHealth>,
    stop: CancellationToken,
) {
    let mut wanted: HashSet<String> = HashSet::new();
    let mut retry = RETRY_MIN;
    let mut was_away = false;
    loop {
        let connected = tokio::select! {
            () = stop.cancelled() => return,
            connected = tokio::time::timeout(CONNECT_TIMEOUT, client.get_async_pubsub()) => connected,
        };
        let pubsub = match connected {
            Ok(Ok(pubsub)) => pubsub,
            Ok(Err(err)) => {
                away(&health, &mut was_away, &err.to_string());
                if !wait_while_away(&mut requests, &mut wanted, retry, &stop).await {
                    return;
                }
                retry = (retry * 2).min(RETRY_MAX);
                continue;
            }
            Err(_) => {
                away(&health, &mut was_away, "connecting timed out");
                if !wait_while_away(&mut requests, &mut wanted, retry, &stop).await {
                    return;
                }
                retry = (retry * 2).min(RETRY_MAX);
                continue;
            }
        };
        let (mut sink, mut stream) = pubsub.split();
        let channels: Vec<&String> = wanted.iter().collect();
        let mut resubscribed = true;
        for chunk in channels.chunks(RESUBSCRIBE_CHUNK) {
            let subscribing = tokio::time::timeout(SUBSCRIBE_TIMEOUT, sink.subscribe(chunk));
            if !matches!(subscribing.await, Ok(Ok(()))) {
                resubscribed = false;
                break;
            }
        }
        if !resubscribed {
            away(&health, &mut was_away, "subscribing again failed");
            if !wait_while_away(&mut requests, &mut wanted, retry, &stop).await {
                return;
            }
            continue;
        }
        retry = RETRY_MIN;
        health.subscriber(true);
        if was_away {
            tracing::info!(channels = wanted.len(), "Redis is back: subscribed again");
            inbound.resubscribed();
            was_away = false;
        }
        let mut ping =
            tokio::time::interval_at(tokio::time::Instant::now() + PING_EVERY, PING_EVERY);
        ping.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                () = stop.cancelled() => return,
                request = requests.recv() => {
                    let Some(request) = request else { return };
                    if !apply(&mut sink, &mut wanted, request).await {
                        break;
                    }
                }
                message = stream.next() => {
                    let Some(message) = message else { break };
                    inbound.received(message.get_channel_name(), message.get_payload_bytes());
                }
                _ = ping.tick() => {
                    // Any answer will do: with channels subscribed Redis answers a
                    // PING with an array, not `PONG`.
                    let pinged =
                        tokio::time::timeout(SUBSCRIBE_TIMEOUT, sink.ping::<redis::Value>()).await;
                    if !matches!(pinged, Ok(Ok(_))) {
                        break;
                    }
                }
            }
        }
        away(&health, &mut was_away, "the subscription was lost");
    }
}

/// Applies a request on a live link; false when the link failed.
async fn apply(
    sink: &mut redis::aio::PubSubSink,
    wanted: &mut HashSet<String>,
    request: Request,
) -> bool {
    match request {
        Request::Watch { channel, done } => {
            let mut ok = true;
            if wanted.insert(channel.clone()) {
                let subscribing = tokio::time::timeout(SUBSCRIBE_TIMEOUT, sink.subscribe(&channel));
                ok = matches!(subscribing.await, Ok(Ok(())));
            }
            if let Some(done) = done {
                let _ = done.send(());
            }
            ok
        }
        Request::Unwatch { channel } => {
            if wanted.remove(&channel) {
                let unsubscribing =
                    tokio::time::timeout(SUBSCRIBE_TIMEOUT, sink.unsubscribe(&channel));
                return matches!(unsubscribing.await, Ok(Ok(())));
            }
            true
        }
    }
}

fn away(health: &RedisHealth, was_away: &mut bool, why: &str) {
    if !*was_away {
        tracing::warn!(
            why,
            "Redis is away: delivering locally, catching up when it is back"
        );
    }
    *was_away = true;
    health.subscriber(false);
}

/// Waits `pause` before the next attempt, keeping track of what is wanted meanwhile
/// (and not making joins wait for a Redis that is away). False when stopped.
async fn wait_while_away(
    requests: &mut mpsc::UnboundedReceiver<Request>,
    wanted: &mut HashSet<String>,
    pause: Duration,
    stop: &CancellationToken,
) -> bool {
    let until = tokio::time::Instant::now() + pause;
    loop {
        tokio::select! {
            () = stop.cancelled() => return false,
            () = tokio::time::sleep_until(until) => return true,
            request = requests.recv() => match request {
                None => return false,
                Some(Request::Watch { channel, done }) => {
                    wanted.insert(channel);
                    if let Some(done) = done {
                        let _ = done.send(());
                    }
                }
                Some(Request::Unwatch { channel }) => {
                    wanted.remove(&channel);
                }
            },
        }
    }
}
