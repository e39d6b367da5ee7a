//! Who may see a room, and as whom they appear in it.

use super::handler::{Handler, internal};
use crate::store::Seat;
use chat_protocol::validate::{self, Refusal};
use chat_protocol::{ErrorCode, RoomKind, User};

/// A room the user may join, read and page.
#[derive(Debug, Clone)]
pub enum RoomAccess {
    Public,
    /// A direct conversation of the user's.
    Direct,
    /// An anonymous pair: the user's seat, the partner's, and whether it is open.
    Pair {
        you: Seat,
        peer: Seat,
        open: bool,
    },
}

impl RoomAccess {
    /// How `user` appears in the room: their alias in a pair, themself elsewhere.
    pub fn shown_as(&self, user: &User) -> User {
        match self {
            RoomAccess::Pair { you, .. } => User::alias(&you.alias),
            _ => user.clone(),
        }
    }

    /// `joined.you`: set in a pair only.
    pub fn you(&self) -> Option<User> {
        match self {
            RoomAccess::Pair { you, .. } => Some(User::alias(&you.alias)),
            _ => None,
        }
    }

    /// Whether joining this room makes the user present in an open pair.
    pub fn is_open_pair(&self) -> bool {
        matches!(self, RoomAccess::Pair { open: true, .. })
    }
}

impl Handler {
    /// Public rooms are open to all; a private room only to its two members (anyone
    /// else gets `forbidden`, whether or not the room exists).
    pub(super) async fn check_access(&self, room: &str) -> Result<RoomAccess, Refusal> {
        let me = self.user.id.as_str();
        match validate::room(room)? {
            RoomKind::Public => Ok(RoomAccess::Public),
            RoomKind::Direct { a, b } if a == me || b == me => Ok(RoomAccess::Direct),
            RoomKind::Direct { .. } => Err(not_yours(room)),
            RoomKind::Pair { .. } => {
                if let Some((you, peer)) = self.app.pairing.open_seats(room, me).await {
                    return Ok(RoomAccess::Pair {
                        you,
                        peer,
                        open: true,
                    });
                }
                // Closed pairs stay readable by their members; the store has them.
                let record = self
                    .app
                    .store
                    .pair(room)
                    .await
                    .map_err(|err| internal("cannot look up the room; try again", &err))?;
                let (you, peer) = record
                    .as_ref()
                    .and_then(|pair| pair.seats_of(me))
                    .ok_or_else(|| not_yours(room))?;
                Ok(RoomAccess::Pair {
                    you: you.clone(),
                    peer: peer.clone(),
                    open: false,
                })
            }
        }
    }
}

fn not_yours(room: &str) -> Refusal {
    Refusal::new(
        ErrorCode::Forbidden,
        format!("{room} is a private room that is not yours"),
    )
}
