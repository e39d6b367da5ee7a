//! The top of the app: the state signals, and which screen to show.

use crate::components::{NameDialog, Profile, RoomView, Sidebar};
use crate::model::ChatState;
use crate::socket::{self, Outgoing, SignIn, Status};
use crate::{attention, browser, native, storage, telegram};
use chat_protocol::{ClientFrame, validate};
use leptos::prelude::*;

/// The whole app: inside Telegram, the chat as the Telegram user, in Telegram's
/// colours; in a browser, a name dialog on the first visit, then the chat.
#[component]
pub fn App() -> impl IntoView {
    let tg = telegram::launch();
    // Telegram names its users: no dialog there (an empty name stands for "none").
    let name = RwSignal::new(if tg.is_some() {
        Some(String::new())
    } else {
        storage::name()
    });
    view! {
        {move || match name.get() {
            None => view! {
                <NameDialog on_done=move |chosen: String| {
                    storage::set_name(&chosen);
                    name.set(Some(chosen));
                } />
            }
            .into_any(),
            Some(chosen) => {
                let name = (!chosen.is_empty()).then_some(chosen);
                view! { <Chat name=name tg=tg.clone() /> }.into_any()
            }
        }}
    }
}

/// The chat screen: rooms on the side, the open room in the middle; on a phone, one of
/// the two at a time.
#[component]
fn Chat(name: Option<String>, tg: Option<String>) -> impl IntoView {
    let mut initial = ChatState::default();
    initial.seen = storage::seen();
    let state = RwSignal::new(initial);
    let status = RwSignal::new(Status::Connecting);
    let refused = RwSignal::new(None::<String>);
    let outgoing: Outgoing = socket::start(SignIn { name, tg, refused }, state, status);
    if telegram::inside() {
        native::connect(state, outgoing.clone());
    }
    // Opened for somewhere (the bot's buttons and links): a room, a conversation, or a
    // stranger.
    match telegram::start_param() {
        Some(start) if start == "stranger" => outgoing.send(ClientFrame::Match {
            interests: Vec::new(),
        }),
        Some(room) => match validate::room(&room) {
            Ok(kind) if kind.is_private() => state.update(|s| s.show_when_joined(room)),
            Ok(_) => {
                let mut frame = None;
                state.update(|s| frame = Some(s.join(room)));
                if let Some(frame) = frame {
                    outgoing.send(frame);
                }
            }
            Err(_) => {}
        },
        None => {}
    }
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
    attention::keep_title(state);
    // A hidden page reads nothing: the open room gathers unread messages meanwhile.
    state.update(|s| s.away = browser::hidden());
    browser::on_visibility(move |hidden| state.update(|s| s.set_away(hidden)));
    // Alt+Down / Alt+Up: the next or previous room; Escape: close the open panels.
    let keys = window_event_listener(leptos::ev::keydown, move |ev| {
        if ev.is_composing() {
            return;
        }
        let step = match ev.key().as_str() {
            "ArrowDown" if ev.alt_key() => 1,
            "ArrowUp" if ev.alt_key() => -1,
            "Escape" => {
                browser::close_panels();
                return;
            }
            _ => return,
        };
        ev.prevent_default();
        state.update(|s| s.open_adjacent(step));
    });
    on_cleanup(move || keys.remove());
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
        Status::Refused => format!(
            "Cannot sign in ({}). Close the app and open it again from Telegram.",
            refused.get().unwrap_or_default()
        ),
    };
    let status_class = move || match status.get() {
        Status::Online => "status online",
        Status::Connecting => "status connecting",
        Status::Offline { .. } => "status offline",
        Status::Refused => "status offline refused",
    };
    let screen = move || {
        let tg = if telegram::inside() { " tg" } else { "" };
        let screen = if state.with(ChatState::in_room) {
            "in-room"
        } else {
            "list"
        };
        format!("chat {screen}{tg}")
    };
    view! {
        <div class=screen>
            <header class="topbar">
                <h1>"Chat"</h1>
                <span class=status_class role="status" aria-live="polite">{status_text}</span>
                <Profile state=state />
            </header>
            <Sidebar state=state now=now />
            <RoomView state=state now=now />
        </div>
    }
}
