//! What the browser remembers between visits: the display name, the session, the rooms
//! joined, how far each was read, and whether to show desktop notifications.

use crate::model::ReadMarks;

const NAME_KEY: &str = "chat.name";
const SESSION_KEY: &str = "chat.session";
const ROOMS_KEY: &str = "chat.rooms";
const SEEN_KEY: &str = "chat.seen";
const NOTIFY_KEY: &str = "chat.notify";

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

/// Whether the person turned desktop notifications on.
pub fn notifications() -> bool {
    get(NOTIFY_KEY).is_some_and(|v| v == "on")
}

pub fn set_notifications(on: bool) {
    set(NOTIFY_KEY, if on { "on" } else { "off" });
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

/// Takes a room the person left off the list rejoined on the next visit.
pub fn forget_room(room: &str) {
    let rooms: Vec<String> = rooms().into_iter().filter(|r| r != room).collect();
    set_rooms(&rooms);
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
