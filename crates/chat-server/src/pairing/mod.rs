//! The anonymous one-to-one chat: the waiting line, the open pairs, and when they close.
//!
//! [`Pairing`] is the seam several nodes will fill from Redis (one atomic script for the
//! line, leases for presence); [`LocalPairing`] keeps everything in this process and in
//! the store, which holds every pair with its real members for moderation.

mod local;
mod queue;

pub use local::{LocalPairing, PairingSettings};
pub use queue::Ticket;

use crate::store::{CloseReason, PairRecord, Seat};
use async_trait::async_trait;

/// The line and the open pairs.
#[async_trait]
pub trait Pairing: Send + Sync {
    /// Puts the ticket's user in the line; false when they have an open pair, or are in
    /// the line already (their place then moves to the ticket's connection). When a
    /// partner is found, both asking connections are told through the roster.
    async fn enqueue(&self, ticket: Ticket) -> bool;

    /// If the user waits, gives their place to `conn` and returns true.
    fn move_ticket(&self, user_id: &str, conn: crate::hub::ConnId) -> bool;

    /// Takes a user out of the line; true when they were in it.
    fn cancel(&self, user_id: &str) -> bool;

    /// A connection ended: a ticket it holds is void (a `matched` could not reach it).
    fn connection_closed(&self, conn: crate::hub::ConnId);

    /// The open pair a user is in.
    fn open_pair_of(&self, user_id: &str) -> Option<String>;

    /// In an open pair: the user's seat and the partner's.
    fn open_seats(&self, room: &str, user_id: &str) -> Option<(Seat, Seat)>;

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
