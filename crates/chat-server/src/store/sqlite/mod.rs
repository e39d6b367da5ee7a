//! The default store: one SQLite file in WAL mode, no other service needed.
//!
//! Only the journal appends, one batch at a time, so seqs are assigned here from the
//! `rooms` table inside the batch's transaction; `BEGIN IMMEDIATE` takes the write lock
//! up front so a concurrent session write waits instead of failing the batch. A batch
//! costs a fixed handful of statements however many rooms it touches, all sent to
//! SQLite's thread in one call.

use super::rows::{self, MessageRow};
use super::{Batch, NewMessage, NewSession, Page, RoomStat, Store, StoreError, StoredSession};
use async_trait::async_trait;
use chat_protocol::{Message, User};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{QueryBuilder, Row, Sqlite, SqlitePool};
use std::collections::HashMap;
use std::str::FromStr;
use std::time::Duration;

/// Most bound parameters SQLite takes in one statement.
const MAX_BINDS: usize = 32766;
/// Bound parameters per message row (its seq is the room's last plus its place).
const COLUMNS: usize = 9;
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
        let Batch { sessions, messages } = batch;
        let rooms = rows::rooms_in_batch(&messages);
        let mut sql = QueryBuilder::<Sqlite>::new("BEGIN IMMEDIATE; ");
        push_sessions(&mut sql, &sessions);
        push_messages(&mut sql, &messages);
        push_room_counts(&mut sql, &rooms, messages.last().map_or(0, |m| m.ts));
        sql.push("COMMIT");
        // The whole batch is one call on SQLite's thread instead of a round trip per
        // statement, each of which could wait its turn for the runtime's thread. In a
        // reconnect storm this did not measurably shorten the slow commits (their wait
        // is for the processor; BENCHMARKS.md, "Storm writes, one-call commits"), but
        // it leaves fewer steps that can wait.
        let mut conn = self.writer.acquire().await?;
        let found = sql.build().persistent(false).fetch_all(&mut *conn).await;
        let found: Vec<(String, i64)> = match found {
            Ok(rows) => rows
                .iter()
                .map(|row| Ok((row.try_get(0)?, row.try_get(1)?)))
                .collect::<Result<_, sqlx::Error>>()?,
            Err(err) => {
                // A statement failed and COMMIT never ran: undo what did. When the
                // failure was BEGIN itself there is nothing to undo, and this fails too.
                let _ = sqlx::query("ROLLBACK").execute(&mut *conn).await;
                return Err(err.into());
            }
        };
        // The rooms' new last seqs, less what this batch added, are where it started.
        let last_before: HashMap<String, i64> = found
            .into_iter()
            .map(|(room, last)| {
                let added = rooms
                    .iter()
                    .find(|(r, _)| *r == room)
                    .map_or(0, |(_, n)| *n);
                (room, last - added)
            })
            .collect();
        let seqs = rows::seqs_after(&messages, &last_before)?;
        Ok(rows::stored_batch(messages, seqs))
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

/// Appends the statements that write new sessions and their users.
fn push_sessions(sql: &mut QueryBuilder<Sqlite>, sessions: &[NewSession]) {
    let now = crate::clock::now_ms();
    let (sessions, users) = rows::unique_sessions(sessions);
    for chunk in sessions.chunks(MAX_BINDS / 4) {
        sql.push("INSERT INTO sessions (token, user_id, user_name, updated_ms) ");
        sql.push_values(chunk, |mut row, session| {
            row.push_bind(session.token.clone())
                .push_bind(session.user.id.clone())
                .push_bind(session.user.name.clone())
                .push_bind(now);
        });
        sql.push(
            " ON CONFLICT (token) DO UPDATE SET user_name = excluded.user_name, updated_ms = excluded.updated_ms; ",
        );
    }
    for chunk in users.chunks(MAX_BINDS / 3) {
        sql.push("INSERT INTO users (id, name, updated_ms) ");
        sql.push_values(chunk, |mut row, user| {
            row.push_bind(user.id.clone())
                .push_bind(user.name.clone())
                .push_bind(now);
        });
        sql.push(
            " ON CONFLICT (id) DO UPDATE SET name = excluded.name, updated_ms = excluded.updated_ms; ",
        );
    }
}

/// Appends the statements that insert a batch's messages, each with the next seq of
/// its room: the room's stored last seq (read inside the transaction) plus the
/// message's place among the batch's messages of that room.
fn push_messages(sql: &mut QueryBuilder<Sqlite>, messages: &[NewMessage]) {
    let places = rows::places_in_rooms(messages);
    for (chunk, places) in messages
        .chunks(ROWS_PER_INSERT)
        .zip(places.chunks(ROWS_PER_INSERT))
    {
        sql.push("INSERT INTO messages (room, seq, id, user_id, user_name, text, ts) ");
        sql.push_values(chunk.iter().zip(places), |mut row, (m, place)| {
            row.push_bind(m.room.clone())
                .push_unseparated(", COALESCE((SELECT last_seq FROM rooms WHERE name = ")
                .push_bind_unseparated(m.room.clone())
                .push_unseparated("), 0) + ")
                .push_bind_unseparated(*place)
                .push_bind(m.id.clone())
                .push_bind(m.from.id.clone())
                .push_bind(m.from.name.clone())
                .push_bind(m.text.clone())
                .push_bind(m.ts);
        });
        sql.push("; ");
    }
}

/// Appends the statements that move each room's last seq on by what the batch added,
/// returning the new value (from which the caller learns the seqs it gave).
fn push_room_counts(sql: &mut QueryBuilder<Sqlite>, rooms: &[(&str, i64)], last_ts: i64) {
    for chunk in rooms.chunks(MAX_BINDS / 3) {
        sql.push("INSERT INTO rooms (name, last_seq, last_ts) ");
        sql.push_values(chunk, |mut row, (room, added)| {
            row.push_bind(room.to_string())
                .push_bind(*added)
                .push_bind(last_ts);
        });
        sql.push(
            " ON CONFLICT (name) DO UPDATE SET last_seq = rooms.last_seq + excluded.last_seq, last_ts = excluded.last_ts RETURNING name, last_seq; ",
        );
    }
}

super::private_sql::impl_private_store!(SqliteStore);

#[cfg(test)]
mod tests {
    use super::*;

    async fn store() -> SqliteStore {
        let file = std::env::temp_dir().join(format!(
            "chat-store-{}-{}.db",
            std::process::id(),
            ulid::Ulid::new()
        ));
        SqliteStore::connect(&format!("sqlite://{}", file.display()))
            .await
            .expect("store")
    }

    fn message(room: &str, id: &str) -> NewMessage {
        NewMessage {
            room: room.to_owned(),
            id: id.to_owned(),
            from: User {
                id: "u_ada".to_owned(),
                name: "Ada".to_owned(),
            },
            text: format!("text of {id}"),
            ts: 1,
        }
    }

    fn seqs(stored: &[Message]) -> Vec<(&str, u64)> {
        stored.iter().map(|m| (m.room.as_str(), m.seq)).collect()
    }

    #[tokio::test]
    async fn each_room_counts_on_from_its_last_seq_across_batches() {
        let store = store().await;
        let first = Batch {
            sessions: vec![NewSession {
                token: "t".to_owned(),
                user: message("a", "x").from,
            }],
            messages: vec![message("a", "1"), message("b", "2"), message("a", "3")],
        };
        let stored = store.append_batch(first).await.expect("stored");
        assert_eq!(seqs(&stored), [("a", 1), ("b", 1), ("a", 2)]);
        let second = Batch {
            sessions: Vec::new(),
            messages: vec![message("b", "4"), message("c", "5"), message("a", "6")],
        };
        let stored = store.append_batch(second).await.expect("stored");
        assert_eq!(seqs(&stored), [("b", 2), ("c", 1), ("a", 3)]);
        let page = store.recent("a", 10).await.expect("read");
        let texts: Vec<_> = page
            .messages
            .iter()
            .map(|m| (m.seq, m.text.as_str()))
            .collect();
        assert_eq!(
            texts,
            [(1, "text of 1"), (2, "text of 3"), (3, "text of 6")]
        );
        assert!(store.load_session("t", 0).await.expect("read").is_some());
    }

    #[tokio::test]
    async fn a_failed_batch_stores_nothing_and_the_next_one_goes_on_from_before_it() {
        let store = store().await;
        store
            .append_batch(Batch {
                sessions: Vec::new(),
                messages: vec![message("a", "1")],
            })
            .await
            .expect("stored");
        // A repeated message id breaks the batch after its first row went in.
        let broken = Batch {
            sessions: vec![NewSession {
                token: "lost".to_owned(),
                user: message("a", "x").from,
            }],
            messages: vec![message("a", "2"), message("a", "1")],
        };
        assert!(store.append_batch(broken).await.is_err());
        assert!(store.load_session("lost", 0).await.expect("read").is_none());
        let stored = store
            .append_batch(Batch {
                sessions: Vec::new(),
                messages: vec![message("a", "3")],
            })
            .await
            .expect("the writer is usable again");
        assert_eq!(seqs(&stored), [("a", 2)]);
        let page = store.recent("a", 10).await.expect("read");
        let ids: Vec<_> = page.messages.iter().map(|m| m.id.as_str()).collect();
        assert_eq!(ids, ["1", "3"]);
    }
}
