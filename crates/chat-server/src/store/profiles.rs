//! What the server keeps about Telegram users beyond their id and name.

use super::StoreError;
use async_trait::async_trait;

/// A Telegram user's own details, from verified initData. Stored for the bot (which
/// writes to `telegram_id`) and for moderators; no frame and no public route carries
/// them, so a stranger never learns a username or sees a photo.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TelegramProfile {
    pub telegram_id: i64,
    pub username: Option<String>,
    pub photo_url: Option<String>,
}

/// Telegram profiles by user id.
#[async_trait]
pub trait Profiles: Send + Sync {
    /// Creates or replaces the profile of `user_id`.
    async fn save_telegram_profile(
        &self,
        user_id: &str,
        profile: &TelegramProfile,
    ) -> Result<(), StoreError>;

    async fn telegram_profile(&self, user_id: &str) -> Result<Option<TelegramProfile>, StoreError>;
}

/// What the bot knows about a Telegram user.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BotUser {
    /// They pressed Start (or sent any command): the bot may write to them.
    pub started: bool,
    /// They asked for no notifications (`/mute`).
    pub muted: bool,
    /// Telegram refused a message to them (they blocked the bot): not tried again until
    /// they talk to the bot again.
    pub unreachable: bool,
}

/// The bot's users, by Telegram id.
#[async_trait]
pub trait BotUsers: Send + Sync {
    /// They talked to the bot: started, and reachable again.
    async fn bot_started(&self, telegram_id: i64) -> Result<(), StoreError>;

    /// `/mute` or `/unmute` (which also count as talking to the bot).
    async fn set_bot_muted(&self, telegram_id: i64, muted: bool) -> Result<(), StoreError>;

    /// Telegram refused a message to them.
    async fn bot_unreachable(&self, telegram_id: i64) -> Result<(), StoreError>;

    async fn bot_user(&self, telegram_id: i64) -> Result<Option<BotUser>, StoreError>;
}
