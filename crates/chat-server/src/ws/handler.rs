//! What a connection's frames do: one method per client frame type.
//!
//! (The protocol's `session` is something else: the token in `welcome` that brings a
//! user back, see [`crate::identity`].)

use crate::hub::{ConnId, Subscribed};
use crate::identity::Identity;
use crate::journal::{Append, Sender};
use crate::limits::FrameLimiter;
use crate::outbox::Outbox;
use crate::outgoing::encode;
use crate::state::AppState;
use crate::store::{Page, StoreError};
use chat_protocol::validate::{self, Refusal};
use chat_protocol::{
    ClientFrame, DEFAULT_HISTORY, ErrorCode, MAX_RECOVERY, Message, ServerFrame, User,
    decode_client_frame,
};
use std::collections::HashSet;
use std::sync::Arc;

/// A connection's user, the rooms it has joined, and its allowance of frames.
pub struct Handler {
    conn: ConnId,
    user: User,
    /// A fresh anonymous session's token until it is stored, at the first `join`; then
    /// nothing, so that an idle connection keeps no copy of it.
    unsaved_session: Option<String>,
    outbox: Outbox,
    app: Arc<AppState>,
    joined: HashSet<String>,
    limiter: FrameLimiter,
}

/// The history part of a `joined` reply.
struct JoinHistory {
    messages: Vec<Message>,
    more: bool,
    recovered: Option<bool>,
}

impl Handler {
    pub fn new(conn: ConnId, identity: Identity, outbox: Outbox, app: Arc<AppState>) -> Self {
        let limiter = FrameLimiter::new(app.config.rate_per_sec, app.config.rate_burst);
        Handler {
            conn,
            unsaved_session: (!identity.stored).then_some(identity.session),
            user: identity.user,
            outbox,
            app,
            joined: HashSet::new(),
            limiter,
        }
    }

    /// Takes one frame's allowance for a control frame (ping or pong): false when the
    /// connection is over its rate, and the ping is then not answered.
    pub fn allow_control_frame(&self) -> bool {
        self.limiter.check().is_ok()
    }

    /// Handles one text frame. Every refusal becomes an `error` frame; none closes the
    /// connection.
    pub async fn handle(&mut self, text: &str) {
        let decoded = decode_client_frame(text);
        if let Err(wait) = self.limiter.check() {
            let client_ref = match &decoded {
                Ok(frame) => frame.client_ref().map(str::to_owned),
                Err(err) => err.client_ref.clone(),
            };
            self.app.metrics.error(ErrorCode::RateLimited);
            self.send(&ServerFrame::Error {
                code: ErrorCode::RateLimited,
                message: "too many frames; slow down".to_owned(),
                client_ref,
                retry_ms: Some(u64::try_from(wait.as_millis()).unwrap_or(u64::MAX).max(1)),
            });
            return;
        }
        match decoded {
            Ok(frame) => self.dispatch(frame).await,
            Err(err) => self.refuse(Refusal::new(err.code, err.message), err.client_ref),
        }
    }

    async fn dispatch(&mut self, frame: ClientFrame) {
        match frame {
            ClientFrame::Join { room, since } => self.join(room, since).await,
            ClientFrame::Leave { room } => self.leave(room),
            ClientFrame::Send {
                room,
                text,
                client_ref,
            } => self.post(room, &text, client_ref).await,
            ClientFrame::Typing { room, active } => self.typing(&room, active),
            ClientFrame::History {
                room,
                before,
                limit,
            } => self.history(room, before, limit).await,
            ClientFrame::Dm { client_ref, .. } => self.refuse(
                Refusal::new(
                    ErrorCode::Internal,
                    "direct messages are not available on this server yet",
                ),
                client_ref,
            ),
            ClientFrame::Match | ClientFrame::Unmatch => self.refuse(
                Refusal::new(
                    ErrorCode::Internal,
                    "anonymous pairing is not available on this server yet",
                ),
                None,
            ),
            ClientFrame::Ping => self.send(&ServerFrame::Pong),
        }
    }

    /// Unsubscribes from every joined room; called once when the connection ends.
    pub fn leave_all(&mut self) {
        for room in std::mem::take(&mut self.joined) {
            self.app.hub.unsubscribe(&room, self.conn);
        }
    }

    async fn join(&mut self, room: String, since: Option<u64>) {
        if let Err(refusal) = self.check_access(&room) {
            return self.refuse(refusal, None);
        }
        let max_rooms = self.app.config.max_rooms_per_connection;
        if !self.joined.contains(&room) && self.joined.len() >= max_rooms {
            return self.refuse(
                Refusal::new(
                    ErrorCode::Limit,
                    format!("a connection can be in at most {max_rooms} rooms; leave one first"),
                ),
                None,
            );
        }
        // Joining shows this user to others: from here on the identity must survive a
        // reconnect, so a fresh session is stored now.
        if let Some(token) = &self.unsaved_session {
            if let Err(err) = self.app.store.save_session(token, &self.user).await {
                tracing::error!(error = %err, "cannot store session");
                return self.refuse(
                    Refusal::new(ErrorCode::Internal, "storage is unavailable; try again"),
                    None,
                );
            }
            self.unsaved_session = None;
        }
        let subscribed = self
            .app
            .hub
            .subscribe(&room, self.conn, &self.user, &self.outbox);
        self.joined.insert(room.clone());
        match self.join_history(&room, since).await {
            Ok(history) => self.app.hub.complete_join(
                &room,
                self.conn,
                history.messages,
                history.more,
                history.recovered,
                since.unwrap_or(0),
            ),
            Err(err) => {
                tracing::error!(error = %err, %room, "cannot read history for join");
                if subscribed == Subscribed::New {
                    self.app.hub.unsubscribe(&room, self.conn);
                    self.joined.remove(&room);
                }
                self.refuse(
                    Refusal::new(ErrorCode::Internal, "history is unavailable; try again"),
                    None,
                );
            }
        }
    }

    /// The last 50 messages, or everything after `since` when at most 1000 are missing.
    async fn join_history(
        &self,
        room: &str,
        since: Option<u64>,
    ) -> Result<JoinHistory, StoreError> {
        let store = &self.app.store;
        if let Some(since) = since
            && let Some(messages) = store.since(room, since, MAX_RECOVERY).await?
        {
            let more = messages.first().map_or(since > 0, |m| m.seq > 1);
            return Ok(JoinHistory {
                messages,
                more,
                recovered: Some(true),
            });
        }
        let Page { messages, more } = store.recent(room, DEFAULT_HISTORY).await?;
        Ok(JoinHistory {
            messages,
            more,
            recovered: since.map(|_| false),
        })
    }

    fn leave(&mut self, room: String) {
        if !self.joined.remove(&room) {
            return self.refuse(not_joined(&room), None);
        }
        if self.joined.capacity() > 2 * self.joined.len() + 16 {
            // A connection that was in many rooms keeps no memory for them.
            self.joined.shrink_to_fit();
        }
        self.app.hub.unsubscribe(&room, self.conn);
        self.send(&ServerFrame::Left { room });
    }

    async fn post(&mut self, room: String, text: &str, client_ref: Option<String>) {
        if !self.joined.contains(&room) {
            return self.refuse(not_joined(&room), client_ref);
        }
        let text = match validate::text(text) {
            Ok(text) => text.to_owned(),
            Err(refusal) => return self.refuse(refusal, client_ref),
        };
        let append = Append {
            room,
            from: self.user.clone(),
            text,
            sender: Some(Sender {
                conn: self.conn,
                client_ref: client_ref.clone(),
                outbox: self.outbox.clone(),
            }),
        };
        if self.app.journal.append(append).await.is_err() {
            self.refuse(
                Refusal::new(ErrorCode::Internal, "the server is shutting down"),
                client_ref,
            );
        }
    }

    fn typing(&mut self, room: &str, active: bool) {
        if !self.joined.contains(room) {
            return self.refuse(not_joined(room), None);
        }
        self.app.hub.typing(room, &self.user, active);
    }

    async fn history(&mut self, room: String, before: u64, limit: Option<u32>) {
        if let Err(refusal) = self.check_access(&room) {
            return self.refuse(refusal, None);
        }
        let limit = match validate::history_limit(limit) {
            Ok(limit) => limit,
            Err(refusal) => return self.refuse(refusal, None),
        };
        match self.app.store.before(&room, before, limit).await {
            Ok(Page { messages, more }) => self.send(&ServerFrame::History {
                room,
                messages,
                more,
            }),
            Err(err) => {
                tracing::error!(error = %err, %room, "cannot read history");
                self.refuse(
                    Refusal::new(ErrorCode::Internal, "history is unavailable; try again"),
                    None,
                );
            }
        }
    }

    /// Public rooms are open to all. Private rooms are created by the server for their
    /// members only; none exist until direct messages and pairing do.
    fn check_access(&self, room: &str) -> Result<(), Refusal> {
        if validate::room(room)?.is_private() {
            return Err(Refusal::new(
                ErrorCode::Forbidden,
                format!("{room} is a private room that is not yours"),
            ));
        }
        Ok(())
    }

    fn refuse(&self, refusal: Refusal, client_ref: Option<String>) {
        self.app.metrics.error(refusal.code);
        self.send(&ServerFrame::error(
            refusal.code,
            refusal.message,
            client_ref,
        ));
    }

    fn send(&self, frame: &ServerFrame) {
        // A full queue closes this connection; the reader loop then ends it.
        let _ = self.outbox.push(encode(frame));
    }
}

fn not_joined(room: &str) -> Refusal {
    Refusal::new(ErrorCode::NotJoined, format!("join {room} first"))
}
