//! The top of the app: the state signals, and which screen to show.

use crate::components::{NameDialog, RoomView, Sidebar};
use crate::model::ChatState;
use crate::socket::{self, Outgoing, Status};
use crate::storage;
use chat_protocol::{ClientFrame, validate};
use leptos::prelude::*;

/// The whole app: a name dialog on the first visit, then the chat.
#[component]
pub fn App() -> impl IntoView {
    let name = RwSignal::new(storage::name());
    view! {
        {move || match name.get() {
            None => view! {
                <NameDialog on_done=move |chosen: String| {
                    storage::set_name(&chosen);
                    name.set(Some(chosen));
                } />
            }
            .into_any(),
            Some(chosen) => view! { <Chat name=chosen /> }.into_any(),
        }}
    }
}

/// The chat screen: rooms on the side, the open room in the middle.
#[component]
fn Chat(name: String) -> impl IntoView {
    let mut initial = ChatState::default();
    initial.seen = storage::seen();
    let state = RwSignal::new(initial);
    let status = RwSignal::new(Status::Connecting);
    let outgoing: Outgoing = socket::start(name, state, status);
    // Rejoin last visit's rooms (sent once connected), and remember the rooms joined.
    for room in storage::rooms() {
        if validate::room(&room).is_ok_and(|kind| !kind.is_private()) {
            outgoing.send(ClientFrame::Join { room, since: None });
        }
    }
    Effect::new(move |_| {
        let rooms: Vec<String> = state.with(|s| s.rooms.keys().cloned().collect());
        // Empty until the rejoins are answered: don't forget the list in the meantime.
        if !rooms.is_empty() {
            storage::set_rooms(&rooms);
        }
    });
    Effect::new(move |_| state.with(|s| storage::set_seen(&s.seen)));
    provide_context(outgoing);
    // A clock for expiring typing indicators.
    let now = RwSignal::new(socket::now_ms());
    if let Ok(clock) = set_interval_with_handle(
        move || now.set(socket::now_ms()),
        std::time::Duration::from_secs(1),
    ) {
        on_cleanup(move || clock.clear());
    }

    let status_text = move || match status.get() {
        Status::Connecting => "Connecting…".to_owned(),
        Status::Online => "Online".to_owned(),
        Status::Offline { retry_in_s } => format!("Offline, retrying in {retry_in_s} s"),
    };
    let status_class = move || match status.get() {
        Status::Online => "status online",
        Status::Connecting => "status connecting",
        Status::Offline { .. } => "status offline",
    };
    view! {
        <div class="chat">
            <header class="topbar">
                <h1>"Chat"</h1>
                <span class=status_class role="status" aria-live="polite">{status_text}</span>
            </header>
            <Sidebar state=state now=now />
            <RoomView state=state now=now />
        </div>
    }
}
