//! Users, direct rooms, pairs, blocks, reports and Telegram profiles: the same SQL for SQLite and
//! PostgreSQL, so the two stores cannot drift apart.
//!
//! The statements are written so that both databases read them alike: `$N` parameters
//! (SQLite numbers named `$N` parameters by first appearance, so they must first appear
//! in order), booleans compared with `NOT` and combined with `AND`, counts instead of
//! casts. The macro implements the four traits for a store type with a `pool` field.

/// Implements [`Conversations`](crate::store::Conversations),
/// [`Moderation`](crate::store::Moderation), [`Profiles`](crate::store::Profiles) and
/// [`BotUsers`](crate::store::BotUsers) for a store with a `pool` field.
macro_rules! impl_private_store {
    ($store:ty) => {
        #[async_trait::async_trait]
        impl $crate::store::Conversations for $store {
            async fn user_name(&self, id: &str) -> Result<Option<String>, $crate::store::StoreError> {
                Ok(sqlx::query_scalar("SELECT name FROM users WHERE id = $1")
                    .bind(id)
                    .fetch_optional(&self.pool)
                    .await?)
            }

            async fn open_direct(&self, room: &str, a: &str, b: &str) -> Result<(), $crate::store::StoreError> {
                sqlx::query(
                    "INSERT INTO direct_rooms (room, user_a, user_b, created_ms) VALUES ($1, $2, $3, $4) \
                     ON CONFLICT (room) DO NOTHING",
                )
                .bind(room)
                .bind(a)
                .bind(b)
                .bind(crate::clock::now_ms())
                .execute(&self.pool)
                .await?;
                Ok(())
            }

            async fn private_rooms(&self, user_id: &str) -> Result<Vec<chat_protocol::PrivateRoom>, $crate::store::StoreError> {
                let direct: Vec<(String, String, String, i64)> = sqlx::query_as(
                    "SELECT d.room, u.id, u.name, COALESCE(r.last_seq, 0) FROM direct_rooms d \
                     JOIN users u ON u.id = CASE WHEN d.user_a = $1 THEN d.user_b ELSE d.user_a END \
                     LEFT JOIN rooms r ON r.name = d.room \
                     WHERE d.user_a = $2 OR d.user_b = $3",
                )
                .bind(user_id)
                .bind(user_id)
                .bind(user_id)
                .fetch_all(&self.pool)
                .await?;
                let pairs: Vec<$crate::store::rows::PairListingRow> = sqlx::query_as(concat!(
                    "SELECT ",
                    $crate::store::rows::pair_columns!(),
                    ", COALESCE(r.last_seq, 0) AS last_seq FROM pairs \
                     LEFT JOIN rooms r ON r.name = pairs.room WHERE user_a = $1 OR user_b = $2 \
                     ORDER BY opened_ms DESC LIMIT 50"
                ))
                .bind(user_id)
                .bind(user_id)
                .fetch_all(&self.pool)
                .await?;
                let direct = direct.into_iter().map($crate::store::rows::direct_listing);
                let pairs = pairs.into_iter().map(|p| $crate::store::rows::pair_listing(user_id, p));
                Ok(direct.chain(pairs).collect())
            }

            async fn open_pair(&self, pair: &$crate::store::PairRecord) -> Result<(), $crate::store::StoreError> {
                let [a, b] = &pair.seats;
                sqlx::query(
                    "INSERT INTO pairs (room, user_a, name_a, alias_a, user_b, name_b, alias_b, common, opened_ms) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
                )
                .bind(&pair.room)
                .bind(&a.user.id)
                .bind(&a.user.name)
                .bind(&a.alias)
                .bind(&b.user.id)
                .bind(&b.user.name)
                .bind(&b.alias)
                .bind($crate::store::rows::common_column(pair))
                .bind(pair.opened_ms)
                .execute(&self.pool)
                .await?;
                Ok(())
            }

            async fn close_pair(
                &self,
                room: &str,
                reason: $crate::store::CloseReason,
                closed_ms: i64,
            ) -> Result<(), $crate::store::StoreError> {
                sqlx::query(
                    "UPDATE pairs SET closed_ms = $1, close_reason = $2 WHERE room = $3 AND closed_ms IS NULL",
                )
                .bind(closed_ms)
                .bind(reason.as_str())
                .bind(room)
                .execute(&self.pool)
                .await?;
                Ok(())
            }

            async fn pair(&self, room: &str) -> Result<Option<$crate::store::PairRecord>, $crate::store::StoreError> {
                let found: Option<$crate::store::rows::PairRow> = sqlx::query_as(concat!(
                    "SELECT ",
                    $crate::store::rows::pair_columns!(),
                    " FROM pairs WHERE room = $1"
                ))
                .bind(room)
                .fetch_optional(&self.pool)
                .await?;
                Ok(found.map($crate::store::PairRecord::from))
            }

            async fn open_pairs(&self) -> Result<Vec<$crate::store::PairRecord>, $crate::store::StoreError> {
                let found: Vec<$crate::store::rows::PairRow> = sqlx::query_as(concat!(
                    "SELECT ",
                    $crate::store::rows::pair_columns!(),
                    " FROM pairs WHERE closed_ms IS NULL"
                ))
                .fetch_all(&self.pool)
                .await?;
                Ok(found.into_iter().map($crate::store::PairRecord::from).collect())
            }

            async fn last_partner(&self, user_id: &str) -> Result<Option<String>, $crate::store::StoreError> {
                Ok(sqlx::query_scalar(
                    "SELECT CASE WHEN user_a = $1 THEN user_b ELSE user_a END FROM pairs \
                     WHERE user_a = $2 OR user_b = $3 ORDER BY opened_ms DESC LIMIT 1",
                )
                .bind(user_id)
                .bind(user_id)
                .bind(user_id)
                .fetch_optional(&self.pool)
                .await?)
            }
        }

        #[async_trait::async_trait]
        impl $crate::store::Moderation for $store {
            async fn block(
                &self,
                user_id: &str,
                blocked_id: &str,
                anonymous: bool,
            ) -> Result<(), $crate::store::StoreError> {
                sqlx::query(
                    "INSERT INTO blocks (user_id, blocked_id, anonymous, created_ms) VALUES ($1, $2, $3, $4) \
                     ON CONFLICT (user_id, blocked_id) DO UPDATE SET anonymous = blocks.anonymous AND EXCLUDED.anonymous",
                )
                .bind(user_id)
                .bind(blocked_id)
                .bind(anonymous)
                .bind(crate::clock::now_ms())
                .execute(&self.pool)
                .await?;
                Ok(())
            }

            async fn unblock(&self, user_id: &str, blocked_id: &str) -> Result<(), $crate::store::StoreError> {
                sqlx::query("DELETE FROM blocks WHERE user_id = $1 AND blocked_id = $2 AND NOT anonymous")
                    .bind(user_id)
                    .bind(blocked_id)
                    .execute(&self.pool)
                    .await?;
                Ok(())
            }

            async fn blocked_by(&self, user_id: &str) -> Result<Vec<String>, $crate::store::StoreError> {
                Ok(sqlx::query_scalar(
                    "SELECT blocked_id FROM blocks WHERE user_id = $1 AND NOT anonymous ORDER BY created_ms",
                )
                .bind(user_id)
                .fetch_all(&self.pool)
                .await?)
            }

            async fn blocks_either_way(&self, user_id: &str) -> Result<Vec<String>, $crate::store::StoreError> {
                Ok(sqlx::query_scalar(
                    "SELECT blocked_id FROM blocks WHERE user_id = $1 \
                     UNION SELECT user_id FROM blocks WHERE blocked_id = $2",
                )
                .bind(user_id)
                .bind(user_id)
                .fetch_all(&self.pool)
                .await?)
            }

            async fn blocked_openly_between(&self, a: &str, b: &str) -> Result<bool, $crate::store::StoreError> {
                let found: i64 = sqlx::query_scalar(
                    "SELECT COUNT(*) FROM blocks WHERE NOT anonymous AND \
                     ((user_id = $1 AND blocked_id = $2) OR (user_id = $2 AND blocked_id = $1))",
                )
                .bind(a)
                .bind(b)
                .fetch_one(&self.pool)
                .await?;
                Ok(found > 0)
            }

            async fn save_report(&self, report: &$crate::store::Report) -> Result<(), $crate::store::StoreError> {
                sqlx::query(
                    "INSERT INTO reports (id, room, reporter_id, reporter_name, reason, ts, transcript) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7)",
                )
                .bind(&report.id)
                .bind(&report.room)
                .bind(&report.reporter.id)
                .bind(&report.reporter.name)
                .bind(&report.reason)
                .bind(report.ts)
                .bind($crate::store::rows::transcript_column(report)?)
                .execute(&self.pool)
                .await?;
                Ok(())
            }

            async fn reports(&self, limit: usize) -> Result<Vec<$crate::store::Report>, $crate::store::StoreError> {
                let found: Vec<$crate::store::rows::ReportRow> = sqlx::query_as(
                    "SELECT id, room, reporter_id, reporter_name, reason, ts, transcript FROM reports \
                     ORDER BY id DESC LIMIT $1",
                )
                .bind(i64::try_from(limit).unwrap_or(i64::MAX))
                .fetch_all(&self.pool)
                .await?;
                found.into_iter().map($crate::store::Report::try_from).collect()
            }
        }

        #[async_trait::async_trait]
        impl $crate::store::Profiles for $store {
            async fn save_telegram_profile(
                &self,
                user_id: &str,
                profile: &$crate::store::TelegramProfile,
            ) -> Result<(), $crate::store::StoreError> {
                sqlx::query(
                    "INSERT INTO telegram_profiles (user_id, telegram_id, username, photo_url, updated_ms) \
                     VALUES ($1, $2, $3, $4, $5) ON CONFLICT (user_id) DO UPDATE SET \
                     telegram_id = excluded.telegram_id, username = excluded.username, \
                     photo_url = excluded.photo_url, updated_ms = excluded.updated_ms",
                )
                .bind(user_id)
                .bind(profile.telegram_id)
                .bind(&profile.username)
                .bind(&profile.photo_url)
                .bind(crate::clock::now_ms())
                .execute(&self.pool)
                .await?;
                Ok(())
            }

            async fn telegram_profile(
                &self,
                user_id: &str,
            ) -> Result<Option<$crate::store::TelegramProfile>, $crate::store::StoreError> {
                let found: Option<(i64, Option<String>, Option<String>)> = sqlx::query_as(
                    "SELECT telegram_id, username, photo_url FROM telegram_profiles WHERE user_id = $1",
                )
                .bind(user_id)
                .fetch_optional(&self.pool)
                .await?;
                Ok(found.map(|(telegram_id, username, photo_url)| $crate::store::TelegramProfile {
                    telegram_id,
                    username,
                    photo_url,
                }))
            }
        }

        #[async_trait::async_trait]
        impl $crate::store::BotUsers for $store {
            async fn bot_started(&self, telegram_id: i64) -> Result<(), $crate::store::StoreError> {
                sqlx::query(
                    "INSERT INTO bot_users (telegram_id, started, muted, unreachable, updated_ms) \
                     VALUES ($1, TRUE, FALSE, FALSE, $2) ON CONFLICT (telegram_id) DO UPDATE SET \
                     started = TRUE, unreachable = FALSE, updated_ms = excluded.updated_ms",
                )
                .bind(telegram_id)
                .bind(crate::clock::now_ms())
                .execute(&self.pool)
                .await?;
                Ok(())
            }

            async fn set_bot_muted(&self, telegram_id: i64, muted: bool) -> Result<(), $crate::store::StoreError> {
                sqlx::query(
                    "INSERT INTO bot_users (telegram_id, started, muted, unreachable, updated_ms) \
                     VALUES ($1, TRUE, $2, FALSE, $3) ON CONFLICT (telegram_id) DO UPDATE SET \
                     started = TRUE, muted = excluded.muted, unreachable = FALSE, updated_ms = excluded.updated_ms",
                )
                .bind(telegram_id)
                .bind(muted)
                .bind(crate::clock::now_ms())
                .execute(&self.pool)
                .await?;
                Ok(())
            }

            async fn bot_unreachable(&self, telegram_id: i64) -> Result<(), $crate::store::StoreError> {
                sqlx::query("UPDATE bot_users SET unreachable = TRUE, updated_ms = $1 WHERE telegram_id = $2")
                    .bind(crate::clock::now_ms())
                    .bind(telegram_id)
                    .execute(&self.pool)
                    .await?;
                Ok(())
            }

            async fn bot_user(&self, telegram_id: i64) -> Result<Option<$crate::store::BotUser>, $crate::store::StoreError> {
                let found: Option<(bool, bool, bool)> = sqlx::query_as(
                    "SELECT started, muted, unreachable FROM bot_users WHERE telegram_id = $1",
                )
                .bind(telegram_id)
                .fetch_optional(&self.pool)
                .await?;
                Ok(found.map(|(started, muted, unreachable)| $crate::store::BotUser {
                    started,
                    muted,
                    unreachable,
                }))
            }
        }
    };
}
pub(crate) use impl_private_store;
