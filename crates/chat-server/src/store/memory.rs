//! History and sessions in this process's memory: the zero-setup store, lost on restart.

use super::{NewMessage, Page, RoomStat, Store, StoreError};
use async_trait::async_trait;
use chat_protocol::{Message, User};
use std::collections::{HashMap, VecDeque};
use std::sync::{Mutex, MutexGuard};

/// Messages kept per room: enough for a full `since` recovery of 1000.
const RETAINED_PER_ROOM: usize = 1000;

/// A store that keeps the latest [`RETAINED_PER_ROOM`] messages of each room.
#[derive(Debug, Default)]
pub struct MemoryStore {
    inner: Mutex<Inner>,
}

#[derive(Debug, Default)]
struct Inner {
    rooms: HashMap<String, RoomLog>,
    sessions: HashMap<String, User>,
}

#[derive(Debug, Default)]
struct RoomLog {
    last_seq: u64,
    retained: VecDeque<Message>,
}

impl RoomLog {
    /// Whether messages older than `seq` exist, retained here or not.
    fn has_older_than(&self, seq: u64) -> bool {
        seq > 1 && self.last_seq > 0
    }
}

impl MemoryStore {
    fn lock(&self) -> MutexGuard<'_, Inner> {
        // A panic while holding the lock cannot leave the maps half-updated in a way that
        // matters more than losing the whole store, so keep serving.
        self.inner
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

#[async_trait]
impl Store for MemoryStore {
    async fn append_batch(&self, batch: Vec<NewMessage>) -> Result<Vec<Message>, StoreError> {
        let mut inner = self.lock();
        let mut stored = Vec::with_capacity(batch.len());
        for new in batch {
            let log = inner.rooms.entry(new.room.clone()).or_default();
            log.last_seq += 1;
            let message = Message {
                room: new.room,
                seq: log.last_seq,
                id: new.id,
                from: new.from,
                text: new.text,
                ts: new.ts,
            };
            if log.retained.len() == RETAINED_PER_ROOM {
                log.retained.pop_front();
            }
            log.retained.push_back(message.clone());
            stored.push(message);
        }
        Ok(stored)
    }

    async fn recent(&self, room: &str, limit: usize) -> Result<Page, StoreError> {
        self.before(room, u64::MAX, limit).await
    }

    async fn since(
        &self,
        room: &str,
        since: u64,
        max: usize,
    ) -> Result<Option<Vec<Message>>, StoreError> {
        let inner = self.lock();
        let Some(log) = inner.rooms.get(room) else {
            return Ok(Some(Vec::new()));
        };
        let missing = log.last_seq.saturating_sub(since);
        let oldest_retained = log.retained.front().map_or(1, |m| m.seq);
        if missing > max as u64 || since + 1 < oldest_retained {
            return Ok(None);
        }
        Ok(Some(
            log.retained
                .iter()
                .filter(|m| m.seq > since)
                .cloned()
                .collect(),
        ))
    }

    async fn before(&self, room: &str, before: u64, limit: usize) -> Result<Page, StoreError> {
        let inner = self.lock();
        let Some(log) = inner.rooms.get(room) else {
            return Ok(Page::default());
        };
        let older: Vec<&Message> = log.retained.iter().filter(|m| m.seq < before).collect();
        let start = older.len().saturating_sub(limit);
        let messages: Vec<Message> = older[start..].iter().map(|m| (*m).clone()).collect();
        let more = messages
            .first()
            .is_some_and(|first| log.has_older_than(first.seq));
        Ok(Page { messages, more })
    }

    async fn room_stats(&self) -> Result<Vec<RoomStat>, StoreError> {
        let inner = self.lock();
        Ok(inner
            .rooms
            .iter()
            .filter_map(|(room, log)| {
                log.retained.back().map(|last| RoomStat {
                    room: room.clone(),
                    last_seq: log.last_seq,
                    last_ts: last.ts,
                })
            })
            .collect())
    }

    async fn save_session(&self, token: &str, user: &User) -> Result<(), StoreError> {
        self.lock().sessions.insert(token.to_owned(), user.clone());
        Ok(())
    }

    async fn load_session(&self, token: &str) -> Result<Option<User>, StoreError> {
        Ok(self.lock().sessions.get(token).cloned())
    }

    async fn ping(&self) -> Result<(), StoreError> {
        Ok(())
    }
}
