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

/// Called for every live message before it is applied: notifies when it deserves it.
pub fn on_message(state: RwSignal<ChatState>, message: &Message) {
    // Not one already shown (a message comes again after a reconnect).
    let title = state.with_untracked(|s| {
        let fresh = s
            .rooms
            .get(&message.room)
            .is_some_and(|room| !room.messages.contains_key(&message.seq));
        (fresh && s.wants_attention(message)).then(|| s.title(&message.room))
    });
    let Some(title) = title else {
        return;
    };
    if !browser::hidden() || !enabled() {
        return;
    }
    let heading = if title == message.from.name {
        title
    } else {
        format!("{} in {title}", message.from.name)
    };
    let room = message.room.clone();
    browser::show_notification(&heading, &message.text, &message.room, move || {
        state.update(|s| s.open(&room));
    });
}
