//! Direct messages: `dm` opens (once) and writes to the conversation `~dm.<a>.<b>`.

use super::handler::{Handler, internal};
use crate::roster::Control;
use chat_protocol::ErrorCode;
use chat_protocol::validate::{self, Refusal};

impl Handler {
    /// Stores a direct message in the two users' room, after subscribing this connection
    /// to it and asking every other connection of both users to subscribe too, so each
    /// sees `joined` before the message (or the message in its `joined` history).
    pub(super) async fn direct_message(
        &mut self,
        to: &str,
        text: &str,
        client_ref: Option<String>,
    ) -> Result<(), Refusal> {
        if to == self.user.id {
            return Err(Refusal::new(
                ErrorCode::BadFrame,
                "a direct message needs someone else to go to",
            ));
        }
        validate::text(text)?;
        let known = self
            .app
            .store
            .user_name(to)
            .await
            .map_err(|err| internal("cannot look up the user; try again", &err))?;
        if known.is_none() {
            return Err(Refusal::new(
                ErrorCode::NoSuchUser,
                format!("there is no user {to:?}"),
            ));
        }
        self.check_not_blocked(to).await?;
        self.keep_session().await?;
        let room = validate::direct_room(&self.user.id, to);
        if !self.recorded_direct.contains(&room) {
            let (a, b) = if self.user.id.as_str() < to {
                (self.user.id.as_str(), to)
            } else {
                (to, self.user.id.as_str())
            };
            self.app
                .store
                .open_direct(&room, a, b)
                .await
                .map_err(|err| internal("cannot open the conversation; try again", &err))?;
            self.recorded_direct.insert(room.clone());
        }
        if !self.joined.contains_key(&room) {
            self.join(room.clone(), None).await?;
        }
        let join = Control::Join { room: room.clone() };
        self.app
            .roster
            .tell_user(&self.user.id, &join, Some(self.conn));
        self.app.roster.tell_user(to, &join, None);
        let from = self.user.clone();
        self.append(room, from, text, client_ref).await
    }

    /// Refuses when either user blocked the other: a blocked user's messages are not
    /// delivered, and whoever blocked cannot write to someone they shut out either.
    pub(super) async fn check_not_blocked(&self, peer: &str) -> Result<(), Refusal> {
        let blocked = self
            .app
            .store
            .blocked_between(&self.user.id, peer)
            .await
            .map_err(|err| internal("cannot check blocks; try again", &err))?;
        if blocked {
            return Err(Refusal::new(
                ErrorCode::Forbidden,
                "this conversation is blocked",
            ));
        }
        Ok(())
    }
}
