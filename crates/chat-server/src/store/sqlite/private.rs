//! Users, direct rooms, pairs, blocks and reports in SQLite.

use super::SqliteStore;
use crate::store::rows::{self, PairListingRow, PairRow, ReportRow, pair_columns};
use crate::store::{CloseReason, Conversations, Moderation, PairRecord, Report, StoreError};
use async_trait::async_trait;
use chat_protocol::PrivateRoom;

#[async_trait]
impl Conversations for SqliteStore {
    async fn user_name(&self, id: &str) -> Result<Option<String>, StoreError> {
        Ok(sqlx::query_scalar("SELECT name FROM users WHERE id = ?")
            .bind(id)
            .fetch_optional(&self.pool)
            .await?)
    }

    async fn open_direct(&self, room: &str, a: &str, b: &str) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO direct_rooms (room, user_a, user_b, created_ms) VALUES (?, ?, ?, ?) \
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

    async fn private_rooms(&self, user_id: &str) -> Result<Vec<PrivateRoom>, StoreError> {
        let direct: Vec<(String, String, String, i64)> = sqlx::query_as(
            "SELECT d.room, u.id, u.name, COALESCE(r.last_seq, 0) FROM direct_rooms d \
             JOIN users u ON u.id = CASE WHEN d.user_a = ? THEN d.user_b ELSE d.user_a END \
             LEFT JOIN rooms r ON r.name = d.room \
             WHERE d.user_a = ? OR d.user_b = ?",
        )
        .bind(user_id)
        .bind(user_id)
        .bind(user_id)
        .fetch_all(&self.pool)
        .await?;
        let pairs: Vec<PairListingRow> = sqlx::query_as(concat!(
            "SELECT ",
            pair_columns!(),
            ", COALESCE(r.last_seq, 0) AS last_seq FROM pairs \
             LEFT JOIN rooms r ON r.name = pairs.room WHERE user_a = ? OR user_b = ? \
             ORDER BY opened_ms DESC LIMIT 50"
        ))
        .bind(user_id)
        .bind(user_id)
        .fetch_all(&self.pool)
        .await?;
        let direct = direct.into_iter().map(rows::direct_listing);
        let pairs = pairs.into_iter().map(|p| rows::pair_listing(user_id, p));
        Ok(direct.chain(pairs).collect())
    }

    async fn open_pair(&self, pair: &PairRecord) -> Result<(), StoreError> {
        let [a, b] = &pair.seats;
        sqlx::query(
            "INSERT INTO pairs (room, user_a, name_a, alias_a, user_b, name_b, alias_b, common, opened_ms) \
             VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
        )
        .bind(&pair.room)
        .bind(&a.user.id)
        .bind(&a.user.name)
        .bind(&a.alias)
        .bind(&b.user.id)
        .bind(&b.user.name)
        .bind(&b.alias)
        .bind(rows::common_column(pair))
        .bind(pair.opened_ms)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn close_pair(
        &self,
        room: &str,
        reason: CloseReason,
        closed_ms: i64,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "UPDATE pairs SET closed_ms = ?, close_reason = ? WHERE room = ? AND closed_ms IS NULL",
        )
        .bind(closed_ms)
        .bind(reason.as_str())
        .bind(room)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn pair(&self, room: &str) -> Result<Option<PairRecord>, StoreError> {
        let found: Option<PairRow> = sqlx::query_as(concat!(
            "SELECT ",
            pair_columns!(),
            " FROM pairs WHERE room = ?"
        ))
        .bind(room)
        .fetch_optional(&self.pool)
        .await?;
        Ok(found.map(PairRecord::from))
    }

    async fn open_pairs(&self) -> Result<Vec<PairRecord>, StoreError> {
        let found: Vec<PairRow> = sqlx::query_as(concat!(
            "SELECT ",
            pair_columns!(),
            " FROM pairs WHERE closed_ms IS NULL"
        ))
        .fetch_all(&self.pool)
        .await?;
        Ok(found.into_iter().map(PairRecord::from).collect())
    }

    async fn last_partner(&self, user_id: &str) -> Result<Option<String>, StoreError> {
        Ok(sqlx::query_scalar(
            "SELECT CASE WHEN user_a = ? THEN user_b ELSE user_a END FROM pairs \
             WHERE user_a = ? OR user_b = ? ORDER BY opened_ms DESC LIMIT 1",
        )
        .bind(user_id)
        .bind(user_id)
        .bind(user_id)
        .fetch_optional(&self.pool)
        .await?)
    }
}

#[async_trait]
impl Moderation for SqliteStore {
    async fn block(
        &self,
        user_id: &str,
        blocked_id: &str,
        anonymous: bool,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO blocks (user_id, blocked_id, anonymous, created_ms) VALUES (?, ?, ?, ?) \
             ON CONFLICT (user_id, blocked_id) DO UPDATE SET anonymous = min(anonymous, excluded.anonymous)",
        )
        .bind(user_id)
        .bind(blocked_id)
        .bind(anonymous)
        .bind(crate::clock::now_ms())
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn unblock(&self, user_id: &str, blocked_id: &str) -> Result<(), StoreError> {
        sqlx::query("DELETE FROM blocks WHERE user_id = ? AND blocked_id = ? AND anonymous = 0")
            .bind(user_id)
            .bind(blocked_id)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    async fn blocked_by(&self, user_id: &str) -> Result<Vec<String>, StoreError> {
        Ok(sqlx::query_scalar(
            "SELECT blocked_id FROM blocks WHERE user_id = ? AND anonymous = 0 ORDER BY created_ms",
        )
        .bind(user_id)
        .fetch_all(&self.pool)
        .await?)
    }

    async fn blocks_either_way(&self, user_id: &str) -> Result<Vec<String>, StoreError> {
        Ok(sqlx::query_scalar(
            "SELECT blocked_id FROM blocks WHERE user_id = ? \
             UNION SELECT user_id FROM blocks WHERE blocked_id = ?",
        )
        .bind(user_id)
        .bind(user_id)
        .fetch_all(&self.pool)
        .await?)
    }

    async fn blocked_between(&self, a: &str, b: &str) -> Result<bool, StoreError> {
        let found: Option<i64> = sqlx::query_scalar(
            "SELECT 1 FROM blocks WHERE (user_id = ? AND blocked_id = ?) \
             OR (user_id = ? AND blocked_id = ?) LIMIT 1",
        )
        .bind(a)
        .bind(b)
        .bind(b)
        .bind(a)
        .fetch_optional(&self.pool)
        .await?;
        Ok(found.is_some())
    }

    async fn save_report(&self, report: &Report) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO reports (id, room, reporter_id, reporter_name, reason, ts, transcript) \
             VALUES (?, ?, ?, ?, ?, ?, ?)",
        )
        .bind(&report.id)
        .bind(&report.room)
        .bind(&report.reporter.id)
        .bind(&report.reporter.name)
        .bind(&report.reason)
        .bind(report.ts)
        .bind(rows::transcript_column(report)?)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn reports(&self, limit: usize) -> Result<Vec<Report>, StoreError> {
        let found: Vec<ReportRow> = sqlx::query_as(
            "SELECT id, room, reporter_id, reporter_name, reason, ts, transcript FROM reports \
             ORDER BY id DESC LIMIT ?",
        )
        .bind(i64::try_from(limit).unwrap_or(i64::MAX))
        .fetch_all(&self.pool)
        .await?;
        found.into_iter().map(Report::try_from).collect()
    }
}
