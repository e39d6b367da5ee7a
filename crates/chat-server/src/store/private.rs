//! What the stores keep about private conversations and moderation: users, direct
//! rooms, anonymous pairs with their real members, blocks and reports.

use super::StoreError;
use async_trait::async_trait;
use chat_protocol::{Message, PrivateRoom, User};

/// One member of an anonymous pair: who they are, and how the other sees them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Seat {
    /// The real user, kept for moderation and never sent to the partner.
    pub user: User,
    /// The alias id (`anon_…`); the alias's name is always "Stranger".
    pub alias: String,
}

/// An anonymous pair as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PairRecord {
    pub room: String,
    pub seats: [Seat; 2],
    /// Interests both members gave.
    pub common: Vec<String>,
    pub opened_ms: i64,
    pub closed_ms: Option<i64>,
}

impl PairRecord {
    /// The seat of `user_id` and the other one, if `user_id` is a member.
    pub fn seats_of(&self, user_id: &str) -> Option<(&Seat, &Seat)> {
        let [a, b] = &self.seats;
        if a.user.id == user_id {
            Some((a, b))
        } else if b.user.id == user_id {
            Some((b, a))
        } else {
            None
        }
    }
}

/// Why a pair closed, as stored and counted in metrics.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CloseReason {
    /// A member sent `leave`.
    Left,
    /// A member asked for the next stranger (`match` during the pair).
    Next,
    /// A member blocked the other.
    Blocked,
    /// A member reported the conversation.
    Reported,
    /// A member had no connection for the grace period.
    Gone,
}

impl CloseReason {
    pub const ALL: [CloseReason; 5] = [
        CloseReason::Left,
        CloseReason::Next,
        CloseReason::Blocked,
        CloseReason::Reported,
        CloseReason::Gone,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            CloseReason::Left => "left",
            CloseReason::Next => "next",
            CloseReason::Blocked => "blocked",
            CloseReason::Reported => "reported",
            CloseReason::Gone => "gone",
        }
    }
}

/// A report for the moderators, with the conversation as it was, real identities and all.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Report {
    pub id: String,
    pub room: String,
    pub reporter: User,
    pub reason: String,
    pub ts: i64,
    pub transcript: Vec<Message>,
}

/// Users, direct rooms and pairs: who may see which private room, and as whom.
#[async_trait]
pub trait Conversations: Send + Sync {
    /// The current name of a user who ever had a stored session.
    async fn user_name(&self, id: &str) -> Result<Option<String>, StoreError>;

    /// Records the direct room of two users (once; later calls change nothing).
    async fn open_direct(&self, room: &str, a: &str, b: &str) -> Result<(), StoreError>;

    /// The private rooms of a user for `welcome`: every direct conversation and the most
    /// recent pairs, each with the peer as this user sees them.
    async fn private_rooms(&self, user_id: &str) -> Result<Vec<PrivateRoom>, StoreError>;

    /// Records a new pair.
    async fn open_pair(&self, pair: &PairRecord) -> Result<(), StoreError>;

    /// Marks a pair closed (a second close changes nothing).
    async fn close_pair(
        &self,
        room: &str,
        reason: CloseReason,
        closed_ms: i64,
    ) -> Result<(), StoreError>;

    /// A pair by room name.
    async fn pair(&self, room: &str) -> Result<Option<PairRecord>, StoreError>;

    /// Every pair not closed yet, for a server that starts again.
    async fn open_pairs(&self) -> Result<Vec<PairRecord>, StoreError>;

    /// The real id of the partner in the user's most recent pair.
    async fn last_partner(&self, user_id: &str) -> Result<Option<String>, StoreError>;
}

/// Blocks and reports.
#[async_trait]
pub trait Moderation: Send + Sync {
    /// `user_id` blocks `blocked_id`; `anonymous` when it was done through a pair room.
    /// Blocking by id someone already blocked anonymously makes the block a listed one.
    async fn block(
        &self,
        user_id: &str,
        blocked_id: &str,
        anonymous: bool,
    ) -> Result<(), StoreError>;

    /// Lifts a block made by id; a block made through a pair room stays.
    async fn unblock(&self, user_id: &str, blocked_id: &str) -> Result<(), StoreError>;

    /// The ids `user_id` blocked by id, for `welcome.blocked`.
    async fn blocked_by(&self, user_id: &str) -> Result<Vec<String>, StoreError>;

    /// Everyone `user_id` blocked or was blocked by, anonymous blocks included.
    async fn blocks_either_way(&self, user_id: &str) -> Result<Vec<String>, StoreError>;

    /// Whether either of two users blocked the other by id. Blocks made through a pair
    /// do not count: refusing a direct message for one of those would tell either side
    /// who the stranger was (they keep the two from being paired again).
    async fn blocked_openly_between(&self, a: &str, b: &str) -> Result<bool, StoreError>;

    async fn save_report(&self, report: &Report) -> Result<(), StoreError>;

    /// The newest `limit` reports, newest first.
    async fn reports(&self, limit: usize) -> Result<Vec<Report>, StoreError>;
}
