//! Which connections each online user has, and a way to tell them something.
//!
//! A direct message subscribes every connection of both users, and a match is announced
//! to the connection that asked: both are things a connection must do itself (it owns
//! the list of rooms it is in), so others send it a [`Control`] instead of reaching into
//! it. [`Roster`] is the seam where several nodes will plug in (a channel per online
//! user); [`LocalRoster`] is the in-process one.

use crate::hub::ConnId;
use chat_protocol::User;
use std::collections::HashMap;
use std::sync::Mutex;
use tokio::sync::mpsc;

/// Something a connection is asked to do by someone else.
#[derive(Debug, Clone, PartialEq, Eq)]
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

/// Where a connection receives its [`Control`]s.
pub type ControlSender = mpsc::UnboundedSender<Control>;

/// The online connections of every user.
pub trait Roster: Send + Sync {
    /// A connection of `user_id` opened.
    fn connect(&self, user_id: &str, conn: ConnId, tx: ControlSender);
    /// It closed.
    fn disconnect(&self, user_id: &str, conn: ConnId);
    /// Tells every connection of a user but `except`.
    fn tell_user(&self, user_id: &str, control: &Control, except: Option<ConnId>);
    /// Tells one connection; false when it is not open any more.
    fn tell_conn(&self, user_id: &str, conn: ConnId, control: Control) -> bool;
    /// Whether a connection of the user is open.
    fn is_connected(&self, user_id: &str, conn: ConnId) -> bool;
}

/// The roster of one process.
#[derive(Debug, Default)]
pub struct LocalRoster {
    users: Mutex<HashMap<String, Vec<(ConnId, ControlSender)>>>,
}

impl LocalRoster {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Vec<(ConnId, ControlSender)>>> {
        // Each critical section is one map operation; nothing panics half-way.
        self.users
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

impl Roster for LocalRoster {
    fn connect(&self, user_id: &str, conn: ConnId, tx: ControlSender) {
        self.lock()
            .entry(user_id.to_owned())
            .or_default()
            .push((conn, tx));
    }

    fn disconnect(&self, user_id: &str, conn: ConnId) {
        let mut users = self.lock();
        if let Some(conns) = users.get_mut(user_id) {
            conns.retain(|(c, _)| *c != conn);
            if conns.is_empty() {
                users.remove(user_id);
            }
        }
    }

    fn tell_user(&self, user_id: &str, control: &Control, except: Option<ConnId>) {
        if let Some(conns) = self.lock().get(user_id) {
            for (conn, tx) in conns {
                if Some(*conn) != except {
                    // A closed receiver is a connection that is ending: nothing to tell.
                    let _ = tx.send(control.clone());
                }
            }
        }
    }

    fn is_connected(&self, user_id: &str, conn: ConnId) -> bool {
        self.lock()
            .get(user_id)
            .is_some_and(|conns| conns.iter().any(|(c, tx)| *c == conn && !tx.is_closed()))
    }

    fn tell_conn(&self, user_id: &str, conn: ConnId, control: Control) -> bool {
        self.lock()
            .get(user_id)
            .and_then(|conns| conns.iter().find(|(c, _)| *c == conn))
            .is_some_and(|(_, tx)| tx.send(control).is_ok())
    }
}
