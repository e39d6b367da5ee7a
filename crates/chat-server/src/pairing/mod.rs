//! The anonymous one-to-one chat: the waiting line, the open pairs, and when they close.
//!
//! [`Pairing`] is the seam: [`LocalPairing`] keeps the line and the open pairs in this
//! process; several nodes keep them in Redis (`cluster::RedisPairing`: one atomic
//! script per step). Either way the store holds every pair with its real members, for
//! moderation and for history.

mod local;
mod queue;

pub use local::{LocalPairing, PairingSettings};
pub use queue::Ticket;

use crate::store::{CloseReason, PairRecord, Seat};
use async_trait::async_trait;

/// A fresh pair room name and two fresh aliases: random, sharing nothing with the real
/// ids (an alias's name is always "Stranger").
pub fn fresh_pair_names() -> (String, [String; 2]) {
    let mut rng = rand::rng();
    let mut alias = || format!("anon_{}", crate::ids::random_token(&mut rng, 16));
    let aliases = [alias(), alias()];
    let room = format!("~pair.{}", crate::ids::random_token(&mut rng, 20));
    (room, aliases)
}

/// Records that a pair closed (the metric, the store) and returns when.
pub async fn record_closing(
    store: &dyn crate::store::Store,
    metrics: &crate::metrics::Metrics,
    room: &str,
    reason: CloseReason,
) -> i64 {
    metrics.pair_closed(reason);
    let closed_ms = crate::clock::now_ms();
    if let Err(err) = store.close_pair(room, reason, closed_ms).await {
        tracing::error!(error = %err, %room, "cannot store that a pair closed");
    }
    closed_ms
}

/// After a close has been announced to the partner: the closer's other connections
/// leave the room too, and the record says when it closed.
pub fn closer_leaves(
    roster: &dyn crate::roster::Roster,
    record: PairRecord,
    closer_id: &str,
    closed_ms: i64,
) -> PairRecord {
    roster.tell_user(
        closer_id,
        &crate::roster::Control::Closed {
            room: record.room.clone(),
        },
        None,
    );
    PairRecord {
        closed_ms: Some(closed_ms),
        ..record
    }
}

/// What the partner sees when the seat with `alias` closes the pair.
pub fn closing_notice(room: &str, alias: &str, closed_ms: i64) -> chat_protocol::ServerFrame {
    chat_protocol::ServerFrame::System {
        room: room.to_owned(),
        event: chat_protocol::SystemEvent::Leave,
        user: chat_protocol::User::alias(alias),
        ts: closed_ms,
    }
}

/// The line could not be reached (Redis is away): the user is not waiting.
#[derive(Debug, thiserror::Error)]
#[error("the line of strangers is unavailable: {0}")]
pub struct Unavailable(pub String);

/// The line and the open pairs.
#[async_trait]
pub trait Pairing: Send + Sync {
    /// Puts the ticket's user in the line; false when they have an open pair, or are in
    /// the line already (their place then moves to the ticket's connection). When a
    /// partner is found, both asking connections are told through the roster.
    async fn enqueue(&self, ticket: Ticket) -> Result<bool, Unavailable>;

    /// If the user waits, gives their place to `conn` and returns true.
    async fn move_ticket(&self, user_id: &str, conn: crate::hub::ConnId) -> bool;

    /// Takes a user out of the line; true when they were in it.
    async fn cancel(&self, user_id: &str) -> bool;

    /// A connection of `user_id` ended: a ticket it holds is void (a `matched` could not
    /// reach it).
    async fn connection_closed(&self, user_id: &str, conn: crate::hub::ConnId);

    /// The open pair a user is in.
    async fn open_pair_of(&self, user_id: &str) -> Option<String>;

    /// In an open pair: the user's seat and the partner's.
    async fn open_seats(&self, room: &str, user_id: &str) -> Option<(Seat, Seat)>;

    /// A connection of `user_id` joined the pair room.
    fn present(&self, room: &str, user_id: &str);

    /// A connection of `user_id` left the pair room (or went away); with none left for
    /// the grace period, the pair closes.
    fn absent(&self, room: &str, user_id: &str);

    /// Closes an open pair on behalf of one member: the partner is told (`system`
    /// `leave` with the closer's alias), the closer's other connections leave it.
    /// Returns the pair, or `None` when it was not open.
    async fn close(&self, room: &str, closer_id: &str, reason: CloseReason) -> Option<PairRecord>;
}
