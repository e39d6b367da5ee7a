//! The rooms one connection has joined, with how its user appears in each (an alias in
//! a pair, themself elsewhere).
//!
//! A sorted `Vec` sized exactly rather than a map: most connections are in one room or
//! a few and sit idle, and a map's smallest table (four slots) costs several times what
//! one entry does. At the limit of 200 rooms a binary search is still quick.

use chat_protocol::User;

#[derive(Debug, Default)]
pub struct JoinedRooms {
    /// Sorted by room name.
    rooms: Vec<(Box<str>, Option<Box<User>>)>,
}

impl JoinedRooms {
    fn find(&self, room: &str) -> Result<usize, usize> {
        self.rooms.binary_search_by(|(name, _)| (**name).cmp(room))
    }

    pub fn contains(&self, room: &str) -> bool {
        self.find(room).is_ok()
    }

    /// `None` when the room is not joined; else the alias the user has there, if any.
    pub fn alias(&self, room: &str) -> Option<Option<&User>> {
        let at = self.find(room).ok()?;
        self.rooms.get(at).map(|(_, alias)| alias.as_deref())
    }

    pub fn len(&self) -> usize {
        self.rooms.len()
    }

    /// Joins (or re-joins, replacing the alias).
    pub fn insert(&mut self, room: &str, alias: Option<User>) {
        let alias = alias.map(Box::new);
        match self.find(room) {
            Ok(at) => {
                if let Some(entry) = self.rooms.get_mut(at) {
                    entry.1 = alias;
                }
            }
            Err(at) => {
                self.rooms.reserve_exact(1);
                self.rooms.insert(at, (room.into(), alias));
            }
        }
    }

    /// Leaves; false when the room was not joined.
    pub fn remove(&mut self, room: &str) -> bool {
        let Ok(at) = self.find(room) else {
            return false;
        };
        self.rooms.remove(at);
        if self.rooms.capacity() > 2 * self.rooms.len() + 4 {
            // A connection that was in many rooms keeps no memory for them.
            self.rooms.shrink_to_fit();
        }
        true
    }

    /// Every joined room's name.
    pub fn names(&self) -> Vec<String> {
        self.rooms
            .iter()
            .map(|(name, _)| name.to_string())
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rooms_are_found_replaced_and_removed_and_memory_follows() {
        let mut joined = JoinedRooms::default();
        let alias = User {
            id: "anon_x".into(),
            name: "Stranger".into(),
        };
        for room in ["lobby", "~pair.p1", "books", "zoo"] {
            let shown = room.starts_with('~').then(|| alias.clone());
            joined.insert(room, shown);
        }
        assert_eq!(joined.len(), 4);
        assert_eq!(joined.names(), ["books", "lobby", "zoo", "~pair.p1"]);
        assert_eq!(joined.alias("lobby"), Some(None));
        assert_eq!(joined.alias("~pair.p1"), Some(Some(&alias)));
        assert_eq!(joined.alias("nowhere"), None);
        joined.insert("lobby", Some(alias.clone()));
        assert_eq!(
            (joined.len(), joined.alias("lobby")),
            (4, Some(Some(&alias)))
        );
        assert!(joined.remove("books") && !joined.remove("books"));
        assert!(!joined.contains("books") && joined.contains("zoo"));
        for i in 0..200 {
            joined.insert(&format!("r{i}"), None);
        }
        for i in 0..200 {
            assert!(joined.remove(&format!("r{i}")));
        }
        assert!(joined.rooms.capacity() <= 2 * joined.len() + 4);
    }
}
