//! What the browser remembers between visits: the display name and the session.

const NAME_KEY: &str = "chat.name";
const SESSION_KEY: &str = "chat.session";

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
