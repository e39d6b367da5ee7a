//! `block`, `unblock` and `report`.

use super::access::RoomAccess;
use super::handler::{Handler, internal, not_joined};
use crate::store::{CloseReason, Report, Seat};
use chat_protocol::validate::{self, Refusal};
use chat_protocol::{DEFAULT_HISTORY, ErrorCode, Message, ServerFrame};

impl Handler {
    /// Blocks a user by id, or the partner of one of this user's pairs without learning
    /// who it is (which also closes the pair if it is open).
    pub(super) async fn block(
        &mut self,
        user: Option<String>,
        room: Option<String>,
        client_ref: Option<String>,
    ) -> Result<(), Refusal> {
        match (user, room) {
            (Some(user), _) => {
                if user == self.user.id {
                    return Err(Refusal::new(
                        ErrorCode::BadFrame,
                        "you cannot block yourself",
                    ));
                }
                self.require_user(&user).await?;
                self.app
                    .store
                    .block(&self.user.id, &user, false)
                    .await
                    .map_err(|err| internal("cannot store the block; try again", &err))?;
                self.send(&ServerFrame::Blocked {
                    user: Some(user),
                    room: None,
                    client_ref,
                });
            }
            (None, Some(room)) => {
                let (peer, open) = self.pair_partner(&room).await?;
                self.app
                    .store
                    .block(&self.user.id, &peer.user.id, true)
                    .await
                    .map_err(|err| internal("cannot store the block; try again", &err))?;
                if open {
                    self.close_pair(&room, CloseReason::Blocked).await;
                }
                self.send(&ServerFrame::Blocked {
                    user: None,
                    room: Some(room),
                    client_ref,
                });
            }
            (None, None) => {
                return Err(Refusal::new(ErrorCode::BadFrame, "block a user or a room"));
            }
        }
        Ok(())
    }

    /// Lifts a block made by id (a block made through a pair cannot be lifted: its
    /// target is unknown to the one who made it).
    pub(super) async fn unblock(
        &mut self,
        user: String,
        client_ref: Option<String>,
    ) -> Result<(), Refusal> {
        self.app
            .store
            .unblock(&self.user.id, &user)
            .await
            .map_err(|err| internal("cannot lift the block; try again", &err))?;
        self.send(&ServerFrame::Unblocked { user, client_ref });
        Ok(())
    }

    /// Stores a report with the room's last messages, real identities and all, for the
    /// moderators. Reporting a pair also blocks the partner and closes it.
    pub(super) async fn report(
        &mut self,
        room: String,
        reason: &str,
        client_ref: Option<String>,
    ) -> Result<(), Refusal> {
        let reason = validate::report_reason(reason)?.to_owned();
        let access = self.check_access(&room).await?;
        if matches!(access, RoomAccess::Public) && !self.joined.contains(&room) {
            return Err(not_joined(&room));
        }
        let recent = self
            .app
            .store
            .recent(&room, DEFAULT_HISTORY)
            .await
            .map_err(|err| internal("cannot read the conversation; try again", &err))?;
        let transcript = match &access {
            RoomAccess::Pair { you, peer, .. } => unmask(recent.messages, [you, peer]),
            _ => recent.messages,
        };
        let report = Report {
            id: ulid::Ulid::new().to_string(),
            room: room.clone(),
            reporter: self.user.clone(),
            reason,
            ts: crate::clock::now_ms(),
            transcript,
        };
        self.app
            .store
            .save_report(&report)
            .await
            .map_err(|err| internal("cannot store the report; try again", &err))?;
        self.app.metrics.reports.inc();
        if let RoomAccess::Pair { peer, open, .. } = access {
            self.app
                .store
                .block(&self.user.id, &peer.user.id, true)
                .await
                .map_err(|err| internal("cannot store the block; try again", &err))?;
            if open {
                self.close_pair(&room, CloseReason::Reported).await;
            }
        }
        self.send(&ServerFrame::Reported { room, client_ref });
        Ok(())
    }

    /// The partner's seat in one of this user's pairs, and whether the pair is open.
    async fn pair_partner(&self, room: &str) -> Result<(Seat, bool), Refusal> {
        match self.check_access(room).await? {
            RoomAccess::Pair { peer, open, .. } => Ok((peer, open)),
            _ => Err(Refusal::new(
                ErrorCode::BadRoom,
                "only a ~pair room can be blocked",
            )),
        }
    }
}

/// A pair's messages with the real authors in place of the aliases, for moderators.
fn unmask(messages: Vec<Message>, seats: [&Seat; 2]) -> Vec<Message> {
    messages
        .into_iter()
        .map(|mut message| {
            if let Some(seat) = seats.iter().find(|s| s.alias == message.from.id) {
                message.from = seat.user.clone();
            }
            message
        })
        .collect()
}
