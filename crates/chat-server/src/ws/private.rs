//! Direct messages: `dm` opens (once) and writes to the conversation `~dm.<a>.<b>`.

use super::handler::{Handler, internal};
use crate::roster::Control;
use chat_protocol::ErrorCode;
use chat_protocol::validate::{self, Refusal};

impl Handler {
    /// Stores a direct message in the two users' room, after subscribing this connection
    /// to it and asking every other connection of both users to subscribe too (see
    /// [`Handler::open_direct`]), so each sees `joined` before the message, or the
    /// message in its `joined` history.
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
        let room = validate::direct_room(&self.user.id, to);
        self.open_direct(&room, to).await?;
        if !self.joined.contains(&room) {
            self.join(room.clone(), None).await?;
        }
        let from = self.user.clone();
        self.append(room, from, text, client_ref).await
    }

    /// Readies the direct room with `peer` for a message from this user, however it is
    /// sent (`dm`, or `send` to the room): the peer must exist and neither may have
    /// blocked the other; the room is recorded (once), and every other connection of
    /// both users is asked to subscribe to it.
    pub(super) async fn open_direct(&mut self, room: &str, peer: &str) -> Result<(), Refusal> {
        if !self.recorded_direct.contains(room) {
            self.require_user(peer).await?;
        }
        self.check_not_blocked(peer).await?;
        self.keep_session().await?;
        if !self.recorded_direct.contains(room) {
            let me = self.user.id.as_str();
            let (a, b) = if me < peer { (me, peer) } else { (peer, me) };
            self.app
                .store
                .open_direct(room, a, b)
                .await
                .map_err(|err| internal("cannot open the conversation; try again", &err))?;
            self.recorded_direct.insert(room.to_owned());
        }
        let join = Control::Join {
            room: room.to_owned(),
        };
        self.app
            .roster
            .tell_user(&self.user.id, &join, Some(self.conn));
        self.app.roster.tell_user(peer, &join, None);
        Ok(())
    }

    /// Refuses (`no_such_user`) an id that never had a stored session: aliases included.
    pub(super) async fn require_user(&self, id: &str) -> Result<(), Refusal> {
        let known = self
            .app
            .store
            .user_name(id)
            .await
            .map_err(|err| internal("cannot look up the user; try again", &err))?;
        match known {
            Some(_) => Ok(()),
            None => Err(Refusal::new(
                ErrorCode::NoSuchUser,
                format!("there is no user {id:?}"),
            )),
        }
    }

    /// Refuses when either user blocked the other by id: a blocked user's messages are
    /// not delivered, and whoever blocked cannot write to someone they shut out either.
    /// (A block made through a pair is not checked here, see
    /// [`crate::store::Moderation::blocked_openly_between`].)
    pub(super) async fn check_not_blocked(&self, peer: &str) -> Result<(), Refusal> {
        let blocked = self
            .app
            .store
            .blocked_openly_between(&self.user.id, peer)
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
