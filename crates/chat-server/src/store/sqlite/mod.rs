//! The default store: one SQLite file in WAL mode, no other service needed.
//!
//! Only the journal appends, one batch at a time, so seqs are assigned here from the
//! `rooms` table inside the batch's transaction; `BEGIN IMMEDIATE` takes the write lock
//! up front so a concurrent session write waits instead of failing the batch. A batch
//! costs a fixed handful of statements however many rooms it touches.

use super::rows::{self, MessageRow};
use super::{Batch, NewSession, Page, RoomStat, Store, StoreError, StoredSession};
use async_trait::async_trait;
use chat_protocol::{Message, User};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{QueryBuilder, Sqlite, SqliteConnection, SqlitePool};
use std::collections::HashMap;
use std::str::FromStr;
use std::time::Duration;

/// Most bound parameters SQLite takes in one statement.
const MAX_BINDS: usize = 32766;
/// Bound parameters per message row.
const COLUMNS: usize = 7;
const ROWS_PER_INSERT: usize = MAX_BINDS / COLUMNS;

/// History and sessions in an SQLite database file.
pub struct SqliteStore {
    /// Reads, and the writes that are not the journal's.
    pool: SqlitePool,
    /// The journal's own connection: a batch never queues behind the reads of a storm
    /// of connecting clients (sessions, histories) for a connection of the pool.
    writer: SqlitePool,
}

impl SqliteStore {
    /// Opens (creating if needed) the database a `sqlite:` URL names and migrates it.
    pub async fn connect(url: &str) -> Result<SqliteStore, StoreError> {
        let options = SqliteConnectOptions::from_str(url)?
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            // Every commit reaches the disk: a power cut loses nothing acknowledged.
            // Group commit keeps this to one fsync per batch, not per message.
            .synchronous(SqliteSynchronous::Full)
            .busy_timeout(Duration::from_secs(5));
        let pool = SqlitePoolOptions::new()
            .max_connections(4)
            .connect_with(options.clone())
            .await?;
        sqlx::migrate!("./migrations/sqlite").run(&pool).await?;
        let writer = SqlitePoolOptions::new()
            .max_connections(1)
            .connect_with(options)
            .await?;
        Ok(SqliteStore { pool, writer })
    }
}

#[async_trait]
impl Store for SqliteStore {
    async fn append_batch(&self, batch: Batch) -> Result<Vec<Message>, StoreError> {
        let mut tx = self.writer.begin_with("BEGIN IMMEDIATE").await?;
        if !batch.sessions.is_empty() {
            insert_sessions(&mut tx, &batch.sessions).await?;
        }
        let batch = batch.messages;
        if batch.is_empty() {
            tx.commit().await?;
            return Ok(Vec::new());
        }
        let rooms = rows::rooms_in_batch(&batch);
        let mut next_seq: HashMap<String, i64> = HashMap::with_capacity(rooms.len());
        for chunk in rooms.chunks(MAX_BINDS) {
            let mut select =
                QueryBuilder::<Sqlite>::new("SELECT name, last_seq FROM rooms WHERE name IN (");
            let mut names = select.separated(", ");
            for (room, _) in chunk {
                names.push_bind(*room);
            }
            select.push(")");
            let found: Vec<(String, i64)> = select.build_query_as().fetch_all(&mut *tx).await?;
            next_seq.extend(found.into_iter().map(|(room, last)| (room, last + 1)));
        }
        let seqs = rows::assign_seqs(&batch, &mut next_seq);
        for (chunk, chunk_seqs) in batch
            .chunks(ROWS_PER_INSERT)
            .zip(seqs.chunks(ROWS_PER_INSERT))
        {
            let mut insert = QueryBuilder::<Sqlite>::new(
                "INSERT INTO messages (room, seq, id, user_id, user_name, text, ts) ",
            );
            insert.push_values(chunk.iter().zip(chunk_seqs), |mut row, (m, seq)| {
                row.push_bind(&m.room)
                    .push_bind(*seq)
                    .push_bind(&m.id)
                    .push_bind(&m.from.id)
                    .push_bind(&m.from.name)
                    .push_bind(&m.text)
                    .push_bind(m.ts);
            });
            insert.build().execute(&mut *tx).await?;
        }
        let last_ts = batch.last().map_or(0, |m| m.ts);
        let updates: Vec<(&String, i64)> = next_seq
            .iter()
            .map(|(room, next)| (room, next - 1))
            .collect();
        for chunk in updates.chunks(MAX_BINDS / 3) {
            let mut upsert =
                QueryBuilder::<Sqlite>::new("INSERT INTO rooms (name, last_seq, last_ts) ");
            upsert.push_values(chunk, |mut row, (room, last_seq)| {
                row.push_bind(*room).push_bind(*last_seq).push_bind(last_ts);
            });
            upsert.push(
                " ON CONFLICT (name) DO UPDATE SET last_seq = excluded.last_seq, last_ts = excluded.last_ts",
            );
            upsert.build().execute(&mut *tx).await?;
        }
        tx.commit().await?;
        Ok(rows::stored_batch(batch, seqs))
    }

    async fn since(
        &self,
        room: &str,
        since: u64,
        max: usize,
    ) -> Result<Option<Vec<Message>>, StoreError> {
        let last: Option<i64> = sqlx::query_scalar("SELECT last_seq FROM rooms WHERE name = ?")
            .bind(room)
            .fetch_optional(&self.pool)
            .await?;
        let since = rows::seq_param(since);
        if rows::too_many_missing(last, since, max) {
            return Ok(None);
        }
        let found: Vec<MessageRow> = sqlx::query_as(
            "SELECT room, seq, id, user_id, user_name, text, ts FROM messages \
             WHERE room = ? AND seq > ? ORDER BY seq",
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
             WHERE room = ? AND seq > ? ORDER BY seq LIMIT ?",
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
             WHERE room = ? AND seq < ? ORDER BY seq DESC LIMIT ?",
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
        let now = crate::clock::now_ms();
        let mut tx = self.pool.begin_with("BEGIN IMMEDIATE").await?;
        sqlx::query(
            "INSERT INTO sessions (token, user_id, user_name, updated_ms) VALUES (?, ?, ?, ?) \
             ON CONFLICT (token) DO UPDATE SET user_name = excluded.user_name, updated_ms = excluded.updated_ms",
        )
        .bind(token)
        .bind(&user.id)
        .bind(&user.name)
        .bind(now)
        .execute(&mut *tx)
        .await?;
        sqlx::query(
            "INSERT INTO users (id, name, updated_ms) VALUES (?, ?, ?) \
             ON CONFLICT (id) DO UPDATE SET name = excluded.name, updated_ms = excluded.updated_ms",
        )
        .bind(&user.id)
        .bind(&user.name)
        .bind(now)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }

    async fn load_session(
        &self,
        token: &str,
        not_before_ms: i64,
    ) -> Result<Option<StoredSession>, StoreError> {
        let found: Option<(String, String, i64)> = sqlx::query_as(
            "SELECT user_id, user_name, updated_ms FROM sessions WHERE token = ? AND updated_ms >= ?",
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
        let done = sqlx::query("DELETE FROM sessions WHERE updated_ms < ?")
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

/// Writes new sessions and their users, a few statements for the whole batch.
async fn insert_sessions(
    conn: &mut SqliteConnection,
    sessions: &[NewSession],
) -> Result<(), StoreError> {
    let now = crate::clock::now_ms();
    let (sessions, users) = rows::unique_sessions(sessions);
    for chunk in sessions.chunks(MAX_BINDS / 4) {
        let mut insert = QueryBuilder::<Sqlite>::new(
            "INSERT INTO sessions (token, user_id, user_name, updated_ms) ",
        );
        insert.push_values(chunk, |mut row, session| {
            row.push_bind(&session.token)
                .push_bind(&session.user.id)
                .push_bind(&session.user.name)
                .push_bind(now);
        });
        insert.push(
            " ON CONFLICT (token) DO UPDATE SET user_name = excluded.user_name, updated_ms = excluded.updated_ms",
        );
        insert.build().execute(&mut *conn).await?;
    }
    for chunk in users.chunks(MAX_BINDS / 3) {
        let mut insert = QueryBuilder::<Sqlite>::new("INSERT INTO users (id, name, updated_ms) ");
        insert.push_values(chunk, |mut row, user| {
            row.push_bind(&user.id).push_bind(&user.name).push_bind(now);
        });
        insert.push(
            " ON CONFLICT (id) DO UPDATE SET name = excluded.name, updated_ms = excluded.updated_ms",
        );
        insert.build().execute(&mut *conn).await?;
    }
    Ok(())
}

super::private_sql::impl_private_store!(SqliteStore);
