//! Where messages and sessions live.
//!
//! The [`Store`] trait is the seam between the chat logic and a database. Appends come
//! only from the journal's single writer, in batches, so an implementation can commit a
//! whole batch in one transaction and assign each room's `seq` without gaps.

mod postgres;
mod private;
mod private_sql;
mod profiles;
mod rows;
mod sqlite;

pub use postgres::PgStore;
pub use private::{CloseReason, Conversations, Moderation, PairRecord, Report, Seat};
pub use profiles::{BotUser, BotUsers, Profiles, TelegramProfile};
pub use sqlite::SqliteStore;

use async_trait::async_trait;
use chat_protocol::{Message, User};
use std::sync::Arc;

/// A message accepted for storage: everything but its `seq`, which the store assigns.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewMessage {
    pub room: String,
    pub id: String,
    pub from: User,
    pub text: String,
    pub ts: i64,
}

/// A new anonymous session, stored with the journal's next batch rather than in a
/// transaction of its own: a storm of first joins costs one commit, not one each.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewSession {
    pub token: String,
    pub user: User,
}

/// What one journal batch stores, in one transaction: sessions first, so that a user's
/// session is never stored after a message they wrote.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Batch {
    pub sessions: Vec<NewSession>,
    pub messages: Vec<NewMessage>,
}

/// A slice of a room's history, oldest first, and whether older messages exist.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Page {
    pub messages: Vec<Message>,
    pub more: bool,
}

/// The newest stored message of a room, for room listings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoomStat {
    pub room: String,
    pub last_seq: u64,
    pub last_ts: i64,
}

/// A storage failure. The cause is logged; clients see `internal`.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("storage unavailable: {0}")]
    Unavailable(String),
    #[error("storage failed: {0}")]
    Failed(String),
}

/// A session as stored: its user, and when it was last saved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredSession {
    pub user: User,
    pub updated_ms: i64,
}

/// Durable history and sessions, and (through its supertraits) private conversations,
/// moderation, Telegram profiles and the bot's users.
#[async_trait]
pub trait Store: Conversations + Moderation + Profiles + BotUsers + Send + Sync + 'static {
    /// Stores a batch atomically (its sessions, then its messages), giving each message
    /// the next `seq` of its room. Returns the stored messages in the batch's order.
    async fn append_batch(&self, batch: Batch) -> Result<Vec<Message>, StoreError>;

    /// The latest `limit` messages of a room.
    async fn recent(&self, room: &str, limit: usize) -> Result<Page, StoreError> {
        self.before(room, u64::MAX, limit).await
    }

    /// Every message with `seq > since`, or `None` when there are more than `max`.
    async fn since(
        &self,
        room: &str,
        since: u64,
        max: usize,
    ) -> Result<Option<Vec<Message>>, StoreError>;

    /// Up to `limit` messages with `seq > after`, the oldest of those (a node reading
    /// what Redis did not bring it).
    async fn after(&self, room: &str, after: u64, limit: usize)
    -> Result<Vec<Message>, StoreError>;

    /// Up to `limit` messages with `seq < before`, the newest of those.
    async fn before(&self, room: &str, before: u64, limit: usize) -> Result<Page, StoreError>;

    /// The newest message of every room that has one.
    async fn room_stats(&self) -> Result<Vec<RoomStat>, StoreError>;

    /// Remembers a user under a session token, and the user's current name.
    async fn save_session(&self, token: &str, user: &User) -> Result<(), StoreError>;

    /// The user a session token belongs to, if it is known and was last used at or
    /// after `not_before_ms`; with when it was last used.
    async fn load_session(
        &self,
        token: &str,
        not_before_ms: i64,
    ) -> Result<Option<StoredSession>, StoreError>;

    /// Forgets sessions last used before `before_ms`; returns how many.
    async fn expire_sessions(&self, before_ms: i64) -> Result<u64, StoreError>;

    /// Succeeds when the storage answers; `/healthz` reports it.
    async fn ping(&self) -> Result<(), StoreError>;
}

/// Opens the store a database URL names, creating and migrating its schema.
pub async fn open(url: &str) -> anyhow::Result<Arc<dyn Store>> {
    if url.starts_with("sqlite:") {
        Ok(Arc::new(SqliteStore::connect(url).await?))
    } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        Ok(Arc::new(PgStore::connect(url).await?))
    } else {
        anyhow::bail!("unsupported database URL {url:?}: use sqlite://FILE or postgres://…")
    }
}
