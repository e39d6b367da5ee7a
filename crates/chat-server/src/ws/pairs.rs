//! The anonymous one-to-one chat from a connection's side: `match` and closing a pair.

use super::handler::{Handler, internal};
use crate::pairing::Ticket;
use crate::store::CloseReason;
use chat_protocol::ServerFrame;
use chat_protocol::validate::{self, Refusal};
use std::collections::HashSet;

impl Handler {
    /// Queues this user for a stranger (closing their open pair first: "next"). The
    /// reply is `queued`; `matched` comes through the roster when a partner is found.
    /// (`enqueue` refuses a user who meanwhile got a pair from another connection's
    /// ticket: one open pair per user.)
    pub(super) async fn find_stranger(&mut self, interests: &[String]) -> Result<(), Refusal> {
        let interests = validate::interests(interests)?;
        // A reload must find the pair again, so the identity must outlive this socket.
        self.keep_session().await?;
        // Waiting already: the place is now this connection's, nothing else changes.
        if self.app.pairing.move_ticket(&self.user.id, self.conn).await {
            self.send(&ServerFrame::Queued);
            return Ok(());
        }
        let store = &self.app.store;
        let mut avoid: HashSet<String> = store
            .blocks_either_way(&self.user.id)
            .await
            .map_err(|err| internal("cannot check blocks; try again", &err))?
            .into_iter()
            .collect();
        if let Some(previous) = store
            .last_partner(&self.user.id)
            .await
            .map_err(|err| internal("cannot look up your last chat; try again", &err))?
        {
            avoid.insert(previous);
        }
        // The open pair's partner is the previous partner now: looked up above, before
        // the pair closes.
        if let Some(room) = self.app.pairing.open_pair_of(&self.user.id).await {
            self.close_pair(&room, CloseReason::Next).await;
        }
        // `queued` goes out first: a partner found at once is announced after it.
        self.send(&ServerFrame::Queued);
        let ticket = Ticket {
            user: self.user.clone(),
            conn: self.conn,
            interests,
            avoid,
            since: tokio::time::Instant::now(),
        };
        if let Err(err) = self.app.pairing.enqueue(ticket).await {
            tracing::warn!(error = %err, "cannot queue for a stranger");
            self.send(&ServerFrame::Unqueued);
            return Err(Refusal::new(
                chat_protocol::ErrorCode::Internal,
                "finding a stranger is unavailable right now; try again",
            ));
        }
        Ok(())
    }

    /// Closes this user's open pair `room`; this connection leaves it (with `left`) if it
    /// is still in it, and so do the user's other connections.
    pub(super) async fn close_pair(&mut self, room: &str, reason: CloseReason) {
        if self
            .app
            .pairing
            .close(room, &self.user.id, reason)
            .await
            .is_some()
            && self.unsubscribe(room)
        {
            self.send(&ServerFrame::Left {
                room: room.to_owned(),
            });
        }
    }
}
