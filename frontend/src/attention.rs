//! What reaches the person while they look elsewhere: the unread count in the tab's
//! title, and a desktop notification for a private message or a mention when the tab is
//! hidden (only once they turned notifications on; never inside Telegram, whose bot
//! notifies instead).

use crate::model::ChatState;
use crate::{browser, storage, telegram};
use chat_protocol::Message;
use leptos::prelude::*;

/// Keeps the document title's unread count up to date.
pub fn keep_title(state: RwSignal<ChatState>) {
    Effect::new(move |_| browser::set_title(state.with(ChatState::unread_total)));
}

/// Whether this person can turn desktop notifications on here.
pub fn offered() -> bool {
    !telegram::inside() && browser::can_notify()
}

/// Whether they are on: turned on in the profile panel and allowed by the browser.
pub fn enabled() -> bool {
    offered() && storage::notifications() && browser::notifications_allowed()
}

/// Turns desktop notifications on (asking the browser, which asks the person, the first
/// time) or off; whether they are on afterwards.
pub async fn turn(on: bool) -> bool {
    let on =
        on && offered() && (browser::notifications_allowed() || browser::ask_to_notify().await);
    storage::set_notifications(on);
    on
}

/// Called for every `joined` before it is applied: a conversation this tab had not
/// joined yet may bring its first message in its history rather than live.
pub fn on_joined(state: RwSignal<ChatState>, room: &str, history: &[Message]) {
    let unread = state.with_untracked(|s| {
        let new = !s.rooms.contains_key(room) && room.starts_with('~');
        let seen = s.seen.get(room);
        new.then(|| {
            history
                .iter()
                .rev()
                .find(|m| m.seq > seen && !s.is_mine(m))
                .cloned()
        })
        .flatten()
    });
    if let Some(message) = unread {
        notify(state, &message);
    }
}

/// Called for every live message before it is applied: notifies when it deserves it.
pub fn on_message(state: RwSignal<ChatState>, message: &Message) {
    // Not one already shown (a message comes again after a reconnect).
    let wanted = state.with_untracked(|s| {
        let fresh = s
            .rooms
            .get(&message.room)
            .is_some_and(|room| !room.messages.contains_key(&message.seq));
        fresh && s.wants_attention(message)
    });
    if wanted {
        notify(state, message);
    }
}

/// Shows `message` as a desktop notification if the person looks elsewhere and turned
/// them on.
fn notify(state: RwSignal<ChatState>, message: &Message) {
    if !browser::hidden() || !enabled() {
        return;
    }
    // A private message is from the other person (or the stranger): their name is the
    // conversation's.
    let heading = if message.room.starts_with('~') {
        message.from.name.clone()
    } else {
        format!("{} in {}", message.from.name, message.room)
    };
    let room = message.room.clone();
    browser::show_notification(&heading, &message.text, &message.room, move || {
        state.update(|s| s.open(&room));
    });
}
