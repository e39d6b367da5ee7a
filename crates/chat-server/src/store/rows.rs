//! Conversions between database rows and protocol values, shared by the SQL stores.

use super::{NewMessage, NewSession, Page, PairRecord, Report, RoomStat, Seat, StoreError};
use chat_protocol::{Message, PrivateRoom, User};
use std::collections::HashMap;

/// A `messages` row.
#[derive(Debug, sqlx::FromRow)]
pub struct MessageRow {
    pub room: String,
    pub seq: i64,
    pub id: String,
    pub user_id: String,
    pub user_name: String,
    pub text: String,
    pub ts: i64,
}

impl From<MessageRow> for Message {
    fn from(row: MessageRow) -> Message {
        Message {
            room: row.room,
            seq: u64::try_from(row.seq).unwrap_or_default(),
            id: row.id,
            from: User {
                id: row.user_id,
                name: row.user_name,
            },
            text: row.text,
            ts: row.ts,
        }
    }
}

/// The stored form of a new message once its seq is known.
pub fn stored(new: NewMessage, seq: i64) -> Message {
    Message {
        room: new.room,
        seq: u64::try_from(seq).unwrap_or_default(),
        id: new.id,
        from: new.from,
        text: new.text,
        ts: new.ts,
    }
}

/// The sessions of a batch with each token once, and their users with each id once
/// (the last of each wins): one statement may not update a row twice.
pub fn unique_sessions(sessions: &[NewSession]) -> (Vec<&NewSession>, Vec<&User>) {
    let mut by_token: HashMap<&str, &NewSession> = HashMap::with_capacity(sessions.len());
    let mut users: HashMap<&str, &User> = HashMap::with_capacity(sessions.len());
    for session in sessions {
        by_token.insert(&session.token, session);
        users.insert(&session.user.id, &session.user);
    }
    (
        by_token.into_values().collect(),
        users.into_values().collect(),
    )
}

/// Gives each message of a batch the next seq of its room, in batch order. `next_seq`
/// holds each room's first free seq; rooms missing from it start at 1.
pub fn assign_seqs(batch: &[NewMessage], next_seq: &mut HashMap<String, i64>) -> Vec<i64> {
    batch
        .iter()
        .map(|message| {
            let next = next_seq.entry(message.room.clone()).or_insert(1);
            let seq = *next;
            *next += 1;
            seq
        })
        .collect()
}

/// The stored messages of a batch, given the seqs assigned to them.
pub fn stored_batch(batch: Vec<NewMessage>, seqs: Vec<i64>) -> Vec<Message> {
    batch
        .into_iter()
        .zip(seqs)
        .map(|(m, seq)| stored(m, seq))
        .collect()
}

/// Whether more than `max` messages follow `since` in a room whose newest is `last`:
/// then a `since` join gives up on full recovery.
pub fn too_many_missing(last: Option<i64>, since: i64, max: usize) -> bool {
    last.unwrap_or(0).saturating_sub(since) > i64::try_from(max).unwrap_or(i64::MAX)
}

/// `(name, last_seq, last_ts)` rows as room stats.
pub fn room_stats(found: Vec<(String, i64, i64)>) -> Vec<RoomStat> {
    found
        .into_iter()
        .map(|(room, last_seq, last_ts)| RoomStat {
            room,
            last_seq: u64::try_from(last_seq).unwrap_or_default(),
            last_ts,
        })
        .collect()
}

/// A seq from the wire as a database integer; values past `i64::MAX` mean "after all".
pub fn seq_param(seq: u64) -> i64 {
    i64::try_from(seq).unwrap_or(i64::MAX)
}

/// A limit as a database integer, plus one row to learn whether more exist.
pub fn limit_plus_one(limit: usize) -> i64 {
    i64::try_from(limit).unwrap_or(i64::MAX - 1) + 1
}

/// Turns newest-first rows fetched with [`limit_plus_one`] into an oldest-first page.
pub fn page_from_newest_first(mut rows: Vec<MessageRow>, limit: usize) -> Page {
    let more = rows.len() > limit;
    rows.truncate(limit);
    rows.reverse();
    Page {
        messages: rows.into_iter().map(Message::from).collect(),
        more,
    }
}

/// Rooms in a batch, in order of first appearance, with how many messages each has.
pub fn rooms_in_batch(batch: &[NewMessage]) -> Vec<(&str, i64)> {
    let mut rooms: Vec<(&str, i64)> = Vec::new();
    for message in batch {
        match rooms.iter_mut().find(|(room, _)| *room == message.room) {
            Some((_, count)) => *count += 1,
            None => rooms.push((&message.room, 1)),
        }
    }
    rooms
}

/// Each message's place among the batch's messages of its room, from 1, in batch
/// order: its seq is the room's last seq before the batch plus this.
pub fn places_in_rooms(batch: &[NewMessage]) -> Vec<i64> {
    let mut counts: HashMap<&str, i64> = HashMap::new();
    batch
        .iter()
        .map(|message| {
            let count = counts.entry(&message.room).or_insert(0);
            *count += 1;
            *count
        })
        .collect()
}

/// The seqs a batch was given, from each room's last seq before it (rooms that had
/// none start after 0).
pub fn seqs_after(
    batch: &[NewMessage],
    last_before: &HashMap<String, i64>,
) -> Result<Vec<i64>, StoreError> {
    batch
        .iter()
        .zip(places_in_rooms(batch))
        .map(|(message, place)| {
            let last = last_before.get(&message.room).ok_or_else(|| {
                StoreError::Failed(format!("room {:?} was not counted", message.room))
            })?;
            Ok(last + place)
        })
        .collect()
}

/// Classifies a database error: connection trouble is "unavailable", the rest "failed".
pub fn store_error(err: sqlx::Error) -> StoreError {
    match err {
        sqlx::Error::Io(_)
        | sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::Tls(_)
        | sqlx::Error::WorkerCrashed => StoreError::Unavailable(err.to_string()),
        other => StoreError::Failed(other.to_string()),
    }
}

impl From<sqlx::Error> for StoreError {
    fn from(err: sqlx::Error) -> Self {
        store_error(err)
    }
}

impl From<sqlx::migrate::MigrateError> for StoreError {
    fn from(err: sqlx::migrate::MigrateError) -> Self {
        StoreError::Failed(format!("migration: {err}"))
    }
}

/// A `pairs` row.
#[derive(Debug, sqlx::FromRow)]
pub struct PairRow {
    pub room: String,
    pub user_a: String,
    pub name_a: String,
    pub alias_a: String,
    pub user_b: String,
    pub name_b: String,
    pub alias_b: String,
    pub common: String,
    pub opened_ms: i64,
    pub closed_ms: Option<i64>,
}

/// The columns of [`PairRow`], for `concat!` into a `SELECT` (queries are static text).
macro_rules! pair_columns {
    () => {
        "room, user_a, name_a, alias_a, user_b, name_b, alias_b, common, opened_ms, closed_ms"
    };
}
pub(crate) use pair_columns;

/// A pair row with its room's last seq, for `welcome.rooms`.
#[derive(Debug, sqlx::FromRow)]
pub struct PairListingRow {
    #[sqlx(flatten)]
    pub pair: PairRow,
    pub last_seq: i64,
}

impl From<PairRow> for PairRecord {
    fn from(row: PairRow) -> PairRecord {
        let seat = |id, name, alias| Seat {
            user: User { id, name },
            alias,
        };
        PairRecord {
            room: row.room,
            seats: [
                seat(row.user_a, row.name_a, row.alias_a),
                seat(row.user_b, row.name_b, row.alias_b),
            ],
            common: row
                .common
                .split(',')
                .filter(|tag| !tag.is_empty())
                .map(str::to_owned)
                .collect(),
            opened_ms: row.opened_ms,
            closed_ms: row.closed_ms,
        }
    }
}

/// How a pair's common interests are stored: comma-separated (tags hold no commas).
pub fn common_column(pair: &PairRecord) -> String {
    pair.common.join(",")
}

/// A direct room of `welcome.rooms`: `(room, peer id, peer name, last_seq)`.
pub fn direct_listing((room, id, name, last_seq): (String, String, String, i64)) -> PrivateRoom {
    PrivateRoom {
        room,
        peer: User { id, name },
        last_seq: u64::try_from(last_seq).unwrap_or_default(),
        you: None,
        open: None,
    }
}

/// A pair of `welcome.rooms`, as `user_id` sees it: aliases only.
pub fn pair_listing(
    user_id: &str,
    PairListingRow {
        pair: row,
        last_seq,
    }: PairListingRow,
) -> PrivateRoom {
    let (you, peer) = if row.user_a == user_id {
        (row.alias_a, row.alias_b)
    } else {
        (row.alias_b, row.alias_a)
    };
    PrivateRoom {
        room: row.room,
        peer: User::alias(&peer),
        last_seq: u64::try_from(last_seq).unwrap_or_default(),
        you: Some(User::alias(&you)),
        open: Some(row.closed_ms.is_none()),
    }
}

/// A `reports` row.
#[derive(Debug, sqlx::FromRow)]
pub struct ReportRow {
    pub id: String,
    pub room: String,
    pub reporter_id: String,
    pub reporter_name: String,
    pub reason: String,
    pub ts: i64,
    pub transcript: String,
}

impl TryFrom<ReportRow> for Report {
    type Error = StoreError;

    fn try_from(row: ReportRow) -> Result<Report, StoreError> {
        let transcript = serde_json::from_str(&row.transcript)
            .map_err(|err| StoreError::Failed(format!("report {}: transcript: {err}", row.id)))?;
        Ok(Report {
            id: row.id,
            room: row.room,
            reporter: User {
                id: row.reporter_id,
                name: row.reporter_name,
            },
            reason: row.reason,
            ts: row.ts,
            transcript,
        })
    }
}

/// A report's transcript as stored.
pub fn transcript_column(report: &Report) -> Result<String, StoreError> {
    serde_json::to_string(&report.transcript)
        .map_err(|err| StoreError::Failed(format!("transcript: {err}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn message(room: &str) -> NewMessage {
        NewMessage {
            room: room.to_owned(),
            id: String::new(),
            from: User {
                id: "u".to_owned(),
                name: "U".to_owned(),
            },
            text: "hi".to_owned(),
            ts: 0,
        }
    }

    #[test]
    fn each_room_counts_its_own_messages_in_batch_order() {
        let batch = [message("a"), message("b"), message("a"), message("a")];
        assert_eq!(places_in_rooms(&batch), [1, 1, 2, 3]);
        let last_before = HashMap::from([("a".to_owned(), 10), ("b".to_owned(), 0)]);
        assert_eq!(
            seqs_after(&batch, &last_before).expect("counted"),
            [11, 1, 12, 13]
        );
    }

    #[test]
    fn a_room_the_database_did_not_count_is_an_error_not_a_guess() {
        let batch = [message("a")];
        assert!(seqs_after(&batch, &HashMap::new()).is_err());
    }
}
