//! The names of everything this deployment keeps in Redis, under one namespace so that
//! several deployments (or test runs) can share a server.

/// Redis key and channel names under a namespace.
#[derive(Debug, Clone)]
pub struct Keys {
    ns: String,
}

impl Keys {
    pub fn new(namespace: &str) -> Keys {
        Keys {
            ns: namespace.to_owned(),
        }
    }

    pub fn namespace(&self) -> &str {
        &self.ns
    }

    /// Where a room's events travel: its messages, typing and notices.
    pub fn room_channel(&self, room: &str) -> String {
        format!("{}:r:{room}", self.ns)
    }

    /// Where what concerns one user travels (controls for their connections).
    pub fn user_channel(&self, user_id: &str) -> String {
        format!("{}:u:{user_id}", self.ns)
    }

    /// The room a channel carries, if it is a room channel.
    pub fn room_of_channel<'a>(&self, channel: &'a str) -> Option<&'a str> {
        channel
            .strip_prefix(self.ns.as_str())
            .and_then(|rest| rest.strip_prefix(":r:"))
    }

    /// The user a channel carries, if it is a user channel.
    pub fn user_of_channel<'a>(&self, channel: &'a str) -> Option<&'a str> {
        channel
            .strip_prefix(self.ns.as_str())
            .and_then(|rest| rest.strip_prefix(":u:"))
    }

    /// A node's lease: it exists while the node lives.
    pub fn lease(&self, node: &str) -> String {
        format!("{}:lease:{node}", self.ns)
    }

    /// Every node that has registered and not yet been swept.
    pub fn nodes(&self) -> String {
        format!("{}:nodes", self.ns)
    }

    /// Exists for as long as Redis has kept its data (a restart without persistence
    /// loses it, and with it every node's presence).
    pub fn epoch(&self) -> String {
        format!("{}:epoch", self.ns)
    }

    /// Rooms with anyone present, scored by how many users.
    pub fn online_rooms(&self) -> String {
        format!("{}:online", self.ns)
    }

    /// A room's members: user id to the user as JSON.
    pub fn members(&self, room: &str) -> String {
        format!("{}:members:{room}", self.ns)
    }

    /// A room's members: user id to the nodes they are present on (comma-separated).
    pub fn whereabouts(&self, room: &str) -> String {
        format!("{}:where:{room}", self.ns)
    }

    /// Open anonymous pairs: room to the pair's record as JSON.
    pub fn pairs(&self) -> String {
        format!("{}:pairs", self.ns)
    }

    /// User id to the room of their open pair.
    pub fn pair_of(&self) -> String {
        format!("{}:pair_of", self.ns)
    }

    /// The keys marked for one user in a cluster-wide set named `set` (see
    /// `Cluster::mark_once`).
    pub fn user_marks(&self, set: &str, user_id: &str) -> String {
        format!("{}:{set}:{user_id}", self.ns)
    }

    /// What one node holds: `room \x1f user` for every presence it registered.
    pub fn held(&self, node: &str) -> String {
        format!("{}:held:{node}", self.ns)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn channels_name_their_room_or_user_and_nothing_else() {
        let keys = Keys::new("chat");
        let room = keys.room_channel("lobby");
        assert_eq!(keys.room_of_channel(&room), Some("lobby"));
        assert_eq!(keys.user_of_channel(&room), None);
        let user = keys.user_channel("u_1");
        assert_eq!(keys.user_of_channel(&user), Some("u_1"));
        assert_eq!(keys.room_of_channel("other:r:lobby"), None);
    }
}
