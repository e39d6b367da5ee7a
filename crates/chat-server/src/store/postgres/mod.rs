//! PostgreSQL, for deployments where several server nodes share history.
//!
//! Seqs come from the database, never from a process-local counter: each batch reserves
//! a block of seqs per room by incrementing the room's row, which stays locked until the
//! batch commits. Another node appending to the same room waits for that commit, and a
//! batch that fails rolls its reservation back, so seqs have no gaps or duplicates.
//! Rooms are locked in name order, so two nodes never deadlock.

use super::rows::{self, MessageRow};
use super::{Batch, NewMessage, NewSession, Page, RoomStat, Store, StoreError, StoredSession};
use async_trait::async_trait;
use chat_protocol::{Message, User};
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::{PgConnection, PgPool};
use std::collections::HashMap;
use std::str::FromStr;
use std::time::Duration;

/// History and sessions in PostgreSQL.
pub struct PgStore {
    /// Reads, and the writes that are not the journal's.
    pool: PgPool,
    /// The journal's own connection: a batch never queues behind the reads of a storm
    /// of connecting clients (sessions, histories) for a connection of the pool.
    writer: PgPool,
}

impl PgStore {
    /// Connects to the database a `postgres://` URL names and migrates it.
    pub async fn connect(url: &str) -> Result<PgStore, StoreError> {
        let options = PgConnectOptions::from_str(url)?;
        // While the database is down, fail requests quickly (clients get `internal`,
        // `/healthz` says 503) rather than hanging; the pools reconnect by themselves.
        let pool_of = |connections| {
            PgPoolOptions::new()
                .max_connections(connections)
                .acquire_timeout(Duration::from_secs(3))
                .test_before_acquire(true)
        };
        let pool = pool_of(8).connect_with(options.clone()).await?;
        sqlx::migrate!("./migrations/postgres").run(&pool).await?;
        let writer = pool_of(1).connect_with(options).await?;
        Ok(PgStore { pool, writer })
    }
}

#[async_trait]
impl Store for PgStore {
    async fn append_batch(&self, batch: Batch) -> Result<Vec<Message>, StoreError> {
        let mut tx = self.writer.begin().await?;
        if !batch.sessions.is_empty() {
            insert_sessions(&mut tx, &batch.sessions).await?;
        }
        let batch = batch.messages;
        if batch.is_empty() {
            tx.commit().await?;
            return Ok(Vec::new());
        }
        let mut rooms = rows::rooms_in_batch(&batch);
        rooms.sort_unstable();
        let last_ts = batch.last().map_or(0, |m| m.ts);
        // One statement reserves a block of seqs in every room of the batch.
        let reserved: Vec<(String, i64)> = sqlx::query_as(
            "INSERT INTO rooms (name, last_seq, last_ts) \
             SELECT name, count, $3 FROM UNNEST($1::text[], $2::int8[]) AS batch (name, count) \
             ON CONFLICT (name) DO UPDATE \
             SET last_seq = rooms.last_seq + EXCLUDED.last_seq, last_ts = EXCLUDED.last_ts \
             RETURNING name, last_seq",
        )
        .bind(rooms.iter().map(|(room, _)| *room).collect::<Vec<_>>())
        .bind(rooms.iter().map(|(_, count)| *count).collect::<Vec<_>>())
        .bind(last_ts)
        .fetch_all(&mut *tx)
        .await?;
        let counts: HashMap<&str, i64> = rooms.into_iter().collect();
        let mut next_seq: HashMap<String, i64> = reserved
            .into_iter()
            .map(|(room, last)| {
                let first = last - counts.get(room.as_str()).copied().unwrap_or(0) + 1;
                (room, first)
            })
            .collect();
        let seqs = rows::assign_seqs(&batch, &mut next_seq);
        let column = |f: fn(&NewMessage) -> &str| batch.iter().map(f).collect::<Vec<_>>();
        sqlx::query(
            "INSERT INTO messages (room, seq, id, user_id, user_name, text, ts) \
             SELECT * FROM UNNEST($1::text[], $2::int8[], $3::text[], $4::text[], $5::text[], $6::text[], $7::int8[])",
        )
        .bind(column(|m| &m.room))
        .bind(&seqs)
        .bind(column(|m| &m.id))
        .bind(column(|m| &m.from.id))
        .bind(column(|m| &m.from.name))
        .bind(column(|m| &m.text))
        .bind(batch.iter().map(|m| m.ts).collect::<Vec<_>>())
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(rows::stored_batch(batch, seqs))
    }

    async fn since(
        &self,
        room: &str,
        since: u64,
        max: usize,
    ) -> Result<Option<Vec<Message>>, StoreError> {
        let last: Option<i64> = sqlx::query_scalar("SELECT last_seq FROM rooms WHERE name = $1")
            .bind(room)
            .fetch_optional(&self.pool)
            .await?;
        let since = rows::seq_param(since);
        if rows::too_many_missing(last, since, max) {
            return Ok(None);
        }
        let found: Vec<MessageRow> = sqlx::query_as(
            "SELECT room, seq, id, user_id, user_name, text, ts FROM messages \
             WHERE room = $1 AND seq > $2 ORDER BY seq",
        )
        .bind(room)
        .bind(since)
        .fetch_all(&self.pool)
        .await?;
        Ok(Some(found.into_iter().map(Message::from).collect()))
    }

    async fn after(
        &self,
        room: &str,
        after: u64,
        limit: usize,
    ) -> Result<Vec<Message>, StoreError> {
        let found: Vec<MessageRow> = sqlx::query_as(
            "SELECT room, seq, id, user_id, user_name, text, ts FROM messages \
             WHERE room = $1 AND seq > $2 ORDER BY seq LIMIT $3",
        )
        .bind(room)
        .bind(rows::seq_param(after))
        .bind(i64::try_from(limit).unwrap_or(i64::MAX))
        .fetch_all(&self.pool)
        .await?;
        Ok(found.into_iter().map(Message::from).collect())
    }

    async fn before(&self, room: &str, before: u64, limit: usize) -> Result<Page, StoreError> {
        let found: Vec<MessageRow> = sqlx::query_as(
            "SELECT room, seq, id, user_id, user_name, text, ts FROM messages \
             WHERE room = $1 AND seq < $2 ORDER BY seq DESC LIMIT $3",
        )
        .bind(room)
        .bind(rows::seq_param(before))
        .bind(rows::limit_plus_one(limit))
        .fetch_all(&self.pool)
        .await?;
        Ok(rows::page_from_newest_first(found, limit))
    }

    async fn room_stats(&self) -> Result<Vec<RoomStat>, StoreError> {
        let found: Vec<(String, i64, i64)> =
            sqlx::query_as("SELECT name, last_seq, last_ts FROM rooms WHERE last_seq > 0")
                .fetch_all(&self.pool)
                .await?;
        Ok(rows::room_stats(found))
    }

    async fn save_session(&self, token: &str, user: &User) -> Result<(), StoreError> {
        // One statement writes both rows, so a session never exists without its user.
        sqlx::query(
            "WITH saved AS ( \
                 INSERT INTO sessions (token, user_id, user_name, updated_ms) VALUES ($1, $2, $3, $4) \
                 ON CONFLICT (token) DO UPDATE SET user_name = EXCLUDED.user_name, updated_ms = EXCLUDED.updated_ms \
             ) \
             INSERT INTO users (id, name, updated_ms) VALUES ($2, $3, $4) \
             ON CONFLICT (id) DO UPDATE SET name = EXCLUDED.name, updated_ms = EXCLUDED.updated_ms",
        )
        .bind(token)
        .bind(&user.id)
        .bind(&user.name)
        .bind(crate::clock::now_ms())
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn load_session(
        &self,
        token: &str,
        not_before_ms: i64,
    ) -> Result<Option<StoredSession>, StoreError> {
        let found: Option<(String, String, i64)> = sqlx::query_as(
            "SELECT user_id, user_name, updated_ms FROM sessions WHERE token = $1 AND updated_ms >= $2",
        )
        .bind(token)
        .bind(not_before_ms)
        .fetch_optional(&self.pool)
        .await?;
        Ok(found.map(|(id, name, updated_ms)| StoredSession {
            user: User { id, name },
            updated_ms,
        }))
    }

    async fn expire_sessions(&self, before_ms: i64) -> Result<u64, StoreError> {
        let done = sqlx::query("DELETE FROM sessions WHERE updated_ms < $1")
            .bind(before_ms)
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected())
    }

    async fn ping(&self) -> Result<(), StoreError> {
        sqlx::query("SELECT 1").execute(&self.pool).await?;
        Ok(())
    }
}

/// Writes new sessions and their users, two statements for the whole batch.
async fn insert_sessions(
    conn: &mut PgConnection,
    sessions: &[NewSession],
) -> Result<(), StoreError> {
    let now = crate::clock::now_ms();
    let (sessions, users) = rows::unique_sessions(sessions);
    sqlx::query(
        "INSERT INTO sessions (token, user_id, user_name, updated_ms) \
         SELECT token, user_id, user_name, $4 FROM UNNEST($1::text[], $2::text[], $3::text[]) \
             AS batch (token, user_id, user_name) \
         ON CONFLICT (token) DO UPDATE SET user_name = EXCLUDED.user_name, updated_ms = EXCLUDED.updated_ms",
    )
    .bind(sessions.iter().map(|s| s.token.as_str()).collect::<Vec<_>>())
    .bind(sessions.iter().map(|s| s.user.id.as_str()).collect::<Vec<_>>())
    .bind(sessions.iter().map(|s| s.user.name.as_str()).collect::<Vec<_>>())
    .bind(now)
    .execute(&mut *conn)
    .await?;
    sqlx::query(
        "INSERT INTO users (id, name, updated_ms) \
         SELECT id, name, $3 FROM UNNEST($1::text[], $2::text[]) AS batch (id, name) \
         ON CONFLICT (id) DO UPDATE SET name = EXCLUDED.name, updated_ms = EXCLUDED.updated_ms",
    )
    .bind(users.iter().map(|u| u.id.as_str()).collect::<Vec<_>>())
    .bind(users.iter().map(|u| u.name.as_str()).collect::<Vec<_>>())
    .bind(now)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

super::private_sql::impl_private_store!(PgStore);
