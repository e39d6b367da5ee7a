//! Which connections each online user has, and a way to tell them something.
//!
//! A direct message subscribes every connection of both users, and a match is announced
//! to the connection that asked: both are things a connection must do itself (it owns
//! the list of rooms it is in), so others send it a [`Control`] instead of reaching into
//! it. [`Roster`] is the seam where several nodes will plug in (a channel per online
//! user); [`LocalRoster`] is the in-process one.

use crate::hub::ConnId;
use chat_protocol::User;
use futures_util::task::AtomicWaker;
use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll};

/// Something a connection is asked to do by someone else (perhaps on another node, so
/// it travels as JSON too).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(tag = "do", rename_all = "snake_case")]
pub enum Control {
    /// Subscribe to this private room of yours (a direct message arrived there), unless
    /// already in it.
    Join { room: String },
    /// Your `match` found a partner: send `matched` and join the pair room.
    Matched {
        room: String,
        you: User,
        peer: User,
        common: Vec<String>,
    },
    /// You closed this pair from another connection (or another frame): leave it too.
    Closed { room: String },
}

/// Where a connection receives its [`Control`]s. Every connection has one, and most never
/// get anything, so it allocates nothing until a control arrives (a channel would hold a
/// block of slots per idle connection).
#[derive(Debug, Default)]
pub struct Mailbox {
    queue: Mutex<VecDeque<Control>>,
    /// The connection's task, woken by a post: a registration, not a future, so an
    /// idle connection's task holds no waiting state for its mailbox.
    ready: AtomicWaker,
    closed: AtomicBool,
}

impl Mailbox {
    fn lock(&self) -> MutexGuard<'_, VecDeque<Control>> {
        self.queue
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Leaves a control for the connection; false once it is closed.
    pub fn post(&self, control: Control) -> bool {
        if self.closed.load(Ordering::Acquire) {
            return false;
        }
        self.lock().push_back(control);
        self.ready.wake();
        true
    }

    /// The next control, if one waits; otherwise the task is woken by the next post.
    /// A control is taken only by the poll that returns it.
    pub fn poll_next(&self, cx: &mut Context<'_>) -> Poll<Control> {
        // Registered before looking: a post in between wakes the task, not missed.
        self.ready.register(cx.waker());
        match self.lock().pop_front() {
            Some(control) => Poll::Ready(control),
            None => Poll::Pending,
        }
    }

    /// The connection is ending: nothing more is taken, and what waits is dropped.
    pub fn close(&self) {
        self.closed.store(true, Ordering::Release);
        self.lock().clear();
    }

    fn is_open(&self) -> bool {
        !self.closed.load(Ordering::Acquire)
    }
}

/// A connection's mailbox as the roster holds it.
pub type ControlSender = Arc<Mailbox>;

/// The online connections of every user.
#[async_trait::async_trait]
pub trait Roster: Send + Sync {
    /// A connection of `user_id` opened. Once this returns, controls for the user reach
    /// it from anywhere.
    async fn connect(&self, user: &User, conn: ConnId, tx: ControlSender);
    /// It closed.
    fn disconnect(&self, user_id: &str, conn: ConnId);
    /// Tells every connection of a user but `except`.
    fn tell_user(&self, user_id: &str, control: &Control, except: Option<ConnId>);
    /// Tells one connection; false when it is not open any more.
    fn tell_conn(&self, user_id: &str, conn: ConnId, control: Control) -> bool;
    /// Whether a connection of the user is open.
    fn is_connected(&self, user_id: &str, conn: ConnId) -> bool;
    /// Whether the user has any connection open (on any node).
    async fn is_online(&self, user_id: &str) -> bool;
}

/// The roster of one process.
#[derive(Debug, Default)]
pub struct LocalRoster {
    users: Mutex<HashMap<String, Vec<(ConnId, ControlSender)>>>,
}

impl LocalRoster {
    /// Adds a connection; true when it is the user's first here.
    pub fn add(&self, user_id: &str, conn: ConnId, tx: ControlSender) -> bool {
        let mut users = self.lock();
        let conns = users.entry(user_id.to_owned()).or_default();
        conns.push((conn, tx));
        conns.len() == 1
    }

    /// Removes a connection; true when it was the user's last here.
    pub fn remove(&self, user_id: &str, conn: ConnId) -> bool {
        let mut users = self.lock();
        let Some(conns) = users.get_mut(user_id) else {
            return false;
        };
        conns.retain(|(c, _)| *c != conn);
        if conns.is_empty() {
            users.remove(user_id);
            return true;
        }
        false
    }

    /// Whether the user has an open connection here.
    pub fn is_here(&self, user_id: &str) -> bool {
        self.lock()
            .get(user_id)
            .is_some_and(|conns| conns.iter().any(|(_, tx)| tx.is_open()))
    }

    /// Every user with a connection here.
    pub fn users(&self) -> Vec<String> {
        self.lock().keys().cloned().collect()
    }

    fn lock(&self) -> MutexGuard<'_, HashMap<String, Vec<(ConnId, ControlSender)>>> {
        // Each critical section is one map operation; nothing panics half-way.
        self.users
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

#[async_trait::async_trait]
impl Roster for LocalRoster {
    async fn connect(&self, user: &User, conn: ConnId, tx: ControlSender) {
        self.add(&user.id, conn, tx);
    }

    fn disconnect(&self, user_id: &str, conn: ConnId) {
        self.remove(user_id, conn);
    }

    fn tell_user(&self, user_id: &str, control: &Control, except: Option<ConnId>) {
        if let Some(conns) = self.lock().get(user_id) {
            for (conn, tx) in conns {
                if Some(*conn) != except {
                    // A closed mailbox is a connection that is ending: nothing to tell.
                    tx.post(control.clone());
                }
            }
        }
    }

    fn is_connected(&self, user_id: &str, conn: ConnId) -> bool {
        self.lock()
            .get(user_id)
            .is_some_and(|conns| conns.iter().any(|(c, tx)| *c == conn && tx.is_open()))
    }

    async fn is_online(&self, user_id: &str) -> bool {
        self.is_here(user_id)
    }

    fn tell_conn(&self, user_id: &str, conn: ConnId, control: Control) -> bool {
        self.lock()
            .get(user_id)
            .and_then(|conns| conns.iter().find(|(c, _)| *c == conn))
            .is_some_and(|(_, tx)| tx.post(control))
    }
}
