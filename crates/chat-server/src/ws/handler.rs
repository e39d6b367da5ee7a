//! What a connection's frames do: one method per client frame type. Rooms in general
//! are here; direct messages, pairs and moderation have a file each (`private.rs`,
//! `pairs.rs`, `moderation.rs`), all `impl Handler`.
//!
//! (The protocol's `session` is something else: the token in `welcome` that brings a
//! user back, see [`crate::identity`].)

use super::joined::JoinedRooms;
use crate::hub::{ConnId, JoinReply, Subscribed};
use crate::identity::Identity;
use crate::journal::{Append, Sender};
use crate::limits::FrameLimiter;
use crate::metrics::HistorySource;
use crate::outbox::Outbox;
use crate::outgoing::encode;
use crate::roster::Control;
use crate::state::AppState;
use crate::store::{Page, StoreError};
use chat_protocol::validate::{self, Refusal};
use chat_protocol::{
    ClientFrame, DEFAULT_HISTORY, ErrorCode, MAX_RECOVERY, RoomKind, ServerFrame, User,
    decode_client_frame,
};
use std::collections::HashSet;
use std::sync::Arc;

/// A connection's user, the rooms it has joined, and its allowance of frames.
pub struct Handler {
    pub(super) conn: ConnId,
    pub(super) user: User,
    /// A fresh anonymous session's token until it is stored, when this user first shows
    /// themself to others (a join, a direct message, a match); then nothing, so that an
    /// idle connection keeps no copy of it.
    unsaved_session: Option<String>,
    outbox: Outbox,
    pub(super) app: Arc<AppState>,
    /// Joined rooms, each with the alias this user appears as there (in a pair), or
    /// `None` where they appear as themself (which keeps no copy of the user per room).
    pub(super) joined: JoinedRooms,
    /// Direct rooms this connection knows are recorded in the store.
    pub(super) recorded_direct: HashSet<String>,
    limiter: FrameLimiter,
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
            joined: JoinedRooms::default(),
            recorded_direct: HashSet::new(),
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
        // Every refusal a frame causes carries the frame's `ref`.
        let client_ref = frame.client_ref().map(str::to_owned);
        let done = match frame {
            ClientFrame::Join { room, since } => self.join(room, since).await,
            ClientFrame::Leave { room } => self.leave(room).await,
            ClientFrame::Send { room, text, .. } => {
                self.post(room, &text, client_ref.clone()).await
            }
            ClientFrame::Typing { room, active } => self.typing(&room, active),
            ClientFrame::History {
                room,
                before,
                limit,
            } => self.history(room, before, limit).await,
            ClientFrame::Dm { to, text, .. } => {
                self.direct_message(&to, &text, client_ref.clone()).await
            }
            ClientFrame::Match { interests } => self.find_stranger(&interests).await,
            ClientFrame::Unmatch => {
                self.app.pairing.cancel(&self.user.id).await;
                self.send(&ServerFrame::Unqueued);
                Ok(())
            }
            ClientFrame::Block { user, room, .. } => {
                self.block(user, room, client_ref.clone()).await
            }
            ClientFrame::Unblock { user, .. } => self.unblock(user, client_ref.clone()).await,
            ClientFrame::Report { room, reason, .. } => {
                self.report(room, &reason, client_ref.clone()).await
            }
            ClientFrame::Ping => {
                self.send(&ServerFrame::Pong);
                Ok(())
            }
        };
        if let Err(refusal) = done {
            self.refuse(refusal, client_ref);
        }
    }

    /// Does what another connection or the pairing asked of this one.
    pub async fn on_control(&mut self, control: Control) {
        let done = match control {
            Control::Join { room } if !self.joined.contains(&room) => self.join(room, None).await,
            Control::Join { .. } => Ok(()),
            Control::Matched {
                room,
                you,
                peer,
                common,
            } => {
                self.send(&ServerFrame::Matched {
                    room: room.clone(),
                    peer,
                    you,
                    common,
                });
                self.join(room, None).await
            }
            Control::Closed { room } => {
                if self.unsubscribe(&room) {
                    self.send(&ServerFrame::Left { room });
                }
                Ok(())
            }
        };
        if let Err(refusal) = done {
            self.refuse(refusal, None);
        }
    }

    /// Unsubscribes from every joined room; called once when the connection ends.
    pub fn leave_all(&mut self) {
        for room in self.joined.names() {
            self.unsubscribe(&room);
        }
    }

    /// Stores a fresh session the first time this user becomes visible to others: from
    /// then on the identity must survive a reconnect. It goes with the journal's next
    /// batch (a storm of first joins is then a commit per batch, not one per user).
    pub(super) async fn keep_session(&mut self) -> Result<(), Refusal> {
        if let Some(token) = &self.unsaved_session {
            self.app
                .journal
                .store_session(token.clone(), self.user.clone())
                .await
                .map_err(|err| {
                    tracing::error!(error = %err, "cannot store session");
                    Refusal::new(ErrorCode::Internal, "cannot store session")
                })?;
            self.unsaved_session = None;
        }
        Ok(())
    }

    pub(super) async fn join(&mut self, room: String, since: Option<u64>) -> Result<(), Refusal> {
        let access = self.check_access(&room).await?;
        let max_rooms = self.app.config.max_rooms_per_connection;
        if !self.joined.contains(&room) && self.joined.len() >= max_rooms {
            return Err(Refusal::new(
                ErrorCode::Limit,
                format!("a connection can be in at most {max_rooms} rooms; leave one first"),
            ));
        }
        self.keep_session().await?;
        let shown_as = access.shown_as(&self.user);
        let subscribed = self
            .app
            .hub
            .subscribe(&room, self.conn, &shown_as, &self.outbox);
        if subscribed.is_new() && access.is_open_pair() {
            self.app.pairing.present(&room, &self.user.id);
        }
        self.joined.insert(&room, access.you());
        let members = match (&self.app.cluster, subscribed) {
            (
                Some(cluster),
                Subscribed::New {
                    first_tab,
                    new_room,
                },
            ) => cluster.joined(&room, &shown_as, first_tab, new_room).await,
            (Some(cluster), Subscribed::Already) => {
                cluster.joined(&room, &shown_as, false, false).await
            }
            (None, _) => None,
        };
        let history = match self.app.hub.history_from_memory(&room, since) {
            Some(reply) => {
                self.app.metrics.join_history(HistorySource::Memory);
                Ok(reply)
            }
            None => {
                self.app.metrics.join_history(HistorySource::Store);
                self.join_history(&room, since).await
            }
        };
        match history {
            Ok(mut reply) => {
                reply.you = access.you();
                reply.members = members;
                self.app
                    .hub
                    .complete_join(&room, self.conn, reply, since.unwrap_or(0));
                Ok(())
            }
            Err(err) => {
                if subscribed.is_new() {
                    self.unsubscribe(&room);
                }
                Err(internal("history is unavailable; try again", &err))
            }
        }
    }

    /// The last 50 messages, or everything after `since` when at most 1000 are missing.
    async fn join_history(&self, room: &str, since: Option<u64>) -> Result<JoinReply, StoreError> {
        let store = &self.app.store;
        if let Some(since) = since
            && let Some(messages) = store.since(room, since, MAX_RECOVERY).await?
        {
            let more = messages.first().map_or(since > 0, |m| m.seq > 1);
            let head = match messages.last() {
                Some(last) => last.seq,
                // Nothing after `since`: the room's head is at most `since` (which a
                // client may also have made up). Only several nodes need to know it.
                None if self.app.cluster.is_some() => newest_seq(store.recent(room, 1).await?),
                None => 0,
            };
            return Ok(JoinReply {
                history: messages,
                more,
                recovered: Some(true),
                head,
                reaches_head: true,
                ..JoinReply::default()
            });
        }
        let page = store.recent(room, DEFAULT_HISTORY).await?;
        let head = page.messages.last().map_or(0, |m| m.seq);
        let Page { messages, more } = page;
        Ok(JoinReply {
            history: messages,
            more,
            recovered: since.map(|_| false),
            head,
            reaches_head: true,
            ..JoinReply::default()
        })
    }

    /// Leaves a room; leaving an open pair closes it for both.
    async fn leave(&mut self, room: String) -> Result<(), Refusal> {
        if !self.unsubscribe(&room) {
            return Err(not_joined(&room));
        }
        self.send(&ServerFrame::Left { room: room.clone() });
        if self
            .app
            .pairing
            .open_seats(&room, &self.user.id)
            .await
            .is_some()
        {
            self.close_pair(&room, crate::store::CloseReason::Left)
                .await;
        }
        Ok(())
    }

    /// Drops this connection's subscription to a room; false when it had none.
    pub(super) fn unsubscribe(&mut self, room: &str) -> bool {
        if !self.joined.remove(room) {
            return false;
        }
        if let Some(left) = self.app.hub.unsubscribe(room, self.conn)
            && let Some(cluster) = &self.app.cluster
        {
            cluster.left(room, left.last_tab.as_ref(), left.room_gone);
        }
        if matches!(validate::room(room), Ok(RoomKind::Pair { .. })) {
            self.app.pairing.absent(room, &self.user.id);
        }
        true
    }

    async fn post(
        &mut self,
        room: String,
        text: &str,
        client_ref: Option<String>,
    ) -> Result<(), Refusal> {
        let shown_as = self
            .shown_in(&room)
            .ok_or_else(|| not_joined(&room))?
            .clone();
        match validate::room(&room)? {
            RoomKind::Public => {}
            RoomKind::Direct { a, b } => {
                let peer = if a == self.user.id { b } else { a }.to_owned();
                self.open_direct(&room, &peer).await?;
            }
            RoomKind::Pair { .. } => {
                if self
                    .app
                    .pairing
                    .open_seats(&room, &self.user.id)
                    .await
                    .is_none()
                {
                    return Err(Refusal::new(
                        ErrorCode::RoomClosed,
                        "this chat has ended; start a new one",
                    ));
                }
            }
        }
        self.append(room, shown_as, text, client_ref).await
    }

    /// Queues a message for storage and delivery to a joined room.
    pub(super) async fn append(
        &mut self,
        room: String,
        from: User,
        text: &str,
        client_ref: Option<String>,
    ) -> Result<(), Refusal> {
        let text = validate::text(text)?.to_owned();
        let append = Append {
            room,
            from,
            text,
            sender: Some(Sender {
                conn: self.conn,
                client_ref,
                outbox: self.outbox.clone(),
            }),
        };
        self.app
            .journal
            .append(append)
            .await
            .map_err(|_| Refusal::new(ErrorCode::Internal, "the server is shutting down"))
    }

    fn typing(&mut self, room: &str, active: bool) -> Result<(), Refusal> {
        let shown_as = self.shown_in(room).ok_or_else(|| not_joined(room))?;
        match &self.app.cluster {
            Some(cluster) => cluster.typing(room, shown_as, active),
            None => self.app.hub.typing(room, shown_as, active),
        }
        Ok(())
    }

    async fn history(
        &mut self,
        room: String,
        before: u64,
        limit: Option<u32>,
    ) -> Result<(), Refusal> {
        self.check_access(&room).await?;
        let limit = validate::history_limit(limit)?;
        let Page { messages, more } = self
            .app
            .store
            .before(&room, before, limit)
            .await
            .map_err(|err| internal("history is unavailable; try again", &err))?;
        self.send(&ServerFrame::History {
            room,
            messages,
            more,
        });
        Ok(())
    }

    /// How this user appears in a joined room: their alias in a pair, themself elsewhere.
    fn shown_in(&self, room: &str) -> Option<&User> {
        self.joined
            .alias(room)
            .map(|alias| alias.unwrap_or(&self.user))
    }

    fn refuse(&self, refusal: Refusal, client_ref: Option<String>) {
        self.app.metrics.error(refusal.code);
        self.send(&ServerFrame::error(
            refusal.code,
            refusal.message,
            client_ref,
        ));
    }

    pub(super) fn send(&self, frame: &ServerFrame) {
        // A full queue closes this connection; the reader loop then ends it.
        let _ = self.outbox.push(encode(frame));
    }
}

/// The seq of the newest message of a page (0 for an empty room).
fn newest_seq(page: Page) -> u64 {
    page.messages.last().map_or(0, |m| m.seq)
}

pub(super) fn not_joined(room: &str) -> Refusal {
    Refusal::new(ErrorCode::NotJoined, format!("join {room} first"))
}

/// A storage failure as the client sees it (`internal`, worth retrying), logged.
pub(super) fn internal(what: &str, err: &StoreError) -> Refusal {
    tracing::error!(error = %err, "{what}");
    Refusal::new(ErrorCode::Internal, what)
}
