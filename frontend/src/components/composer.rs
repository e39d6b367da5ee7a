//! Writing a message: Enter sends, Shift+Enter adds a line; typing is announced at most
//! every 2 s.

use crate::model::ChatState;
use crate::socket::{Outgoing, now_ms};
use chat_protocol::ClientFrame;
use leptos::prelude::*;

/// Least time between two `typing` frames while the user keeps typing.
const TYPING_EVERY_MS: i64 = 2_000;

#[component]
pub fn Composer(state: RwSignal<ChatState>, room: String, closed: Signal<bool>) -> impl IntoView {
    let outgoing = expect_context::<Outgoing>();
    let draft = RwSignal::new(String::new());
    let last_typing = StoredValue::new(0i64);
    let send = {
        let (outgoing, room) = (outgoing.clone(), room.clone());
        move || {
            let text = draft.get_untracked();
            let mut frame = None;
            state.update(|s| frame = s.send(&room, &text));
            if let Some(frame) = frame {
                outgoing.send(frame);
                draft.set(String::new());
                last_typing.set_value(0);
            }
        }
    };
    let on_keydown = {
        let send = send.clone();
        move |ev: leptos::ev::KeyboardEvent| {
            if ev.key() == "Enter" && !ev.shift_key() && !ev.is_composing() {
                ev.prevent_default();
                send();
            }
        }
    };
    let on_input = move |ev: leptos::ev::Event| {
        draft.set(event_target_value(&ev));
        let now = now_ms();
        if now - last_typing.get_value() >= TYPING_EVERY_MS {
            last_typing.set_value(now);
            outgoing.send(ClientFrame::Typing {
                room: room.clone(),
                active: true,
            });
        }
    };
    view! {
        <form class="composer" on:submit=move |ev: leptos::ev::SubmitEvent| {
            ev.prevent_default();
            send();
        }>
            <label for="message" class="visually-hidden">"Message"</label>
            <textarea
                id="message"
                rows="1"
                placeholder="Write a message…"
                prop:disabled=closed
                prop:value=move || draft.get()
                on:input=on_input
                on:keydown=on_keydown
            ></textarea>
            <button type="submit" prop:disabled=closed>"Send"</button>
        </form>
    }
}
