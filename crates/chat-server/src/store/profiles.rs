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
