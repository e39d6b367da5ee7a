//! What the browser remembers between visits: the display name, the session, the rooms
//! joined and how far each was read.

use crate::model::ReadMarks;

const NAME_KEY: &str = "chat.name";
const SESSION_KEY: &str = "chat.session";
const ROOMS_KEY: &str = "chat.rooms";
const SEEN_KEY: &str = "chat.seen";

fn local() -> Option<web_sys::Storage> {
    web_sys::window()?.local_storage().ok()?
}

fn get(key: &str) -> Option<String> {
    local()?.get_item(key).ok()?.filter(|v| !v.is_empty())
}

fn set(key: &str, value: &str) {
    // Private browsing may refuse storage; the app then simply forgets on reload.
    if let Some(storage) = local() {
        let _ = storage.set_item(key, value);
    }
}

pub fn name() -> Option<String> {
    get(NAME_KEY)
}

pub fn set_name(name: &str) {
    set(NAME_KEY, name);
}

pub fn session() -> Option<String> {
    get(SESSION_KEY)
}

pub fn set_session(session: &str) {
    set(SESSION_KEY, session);
}

/// The rooms joined on the last visit, rejoined on the next.
pub fn rooms() -> Vec<String> {
    get(ROOMS_KEY)
        .map(|rooms| rooms.split('\n').map(str::to_owned).collect())
        .unwrap_or_default()
}

pub fn set_rooms(rooms: &[String]) {
    set(ROOMS_KEY, &rooms.join("\n"));
}

/// The newest seq read per room, so unread counts survive a reload.
pub fn seen() -> ReadMarks {
    let mut seen = ReadMarks::default();
    for line in get(SEEN_KEY).unwrap_or_default().lines() {
        if let Some((room, seq)) = line.rsplit_once(' ')
            && let Ok(seq) = seq.parse()
        {
            seen.insert(room, seq);
        }
    }
    seen
}

pub fn set_seen(seen: &ReadMarks) {
    let lines: Vec<String> = seen
        .iter()
        .map(|(room, seq)| format!("{room} {seq}"))
        .collect();
    set(SEEN_KEY, &lines.join("\n"));
}
