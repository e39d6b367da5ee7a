//! Writing a message: Enter sends, Shift+Enter adds a line; typing is announced at most
//! every 2 s; `@` offers the names of the people here (Tab takes the first).

use crate::model::ChatState;
use crate::rich::{complete, completions};
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
    // The mentions the draft can become: names of the others here.
    // A memo: the list is drawn again only when the names it offers change, not on every
    // frame (a suggestion being clicked or focused stays).
    let offered = {
        let room = room.clone();
        Memo::new(move |_| {
            draft.with(|draft| {
                state.with(|s| {
                    let me = s.me_in(&room).map(|u| &u.id);
                    let names: Vec<&str> = s.rooms.get(&room).map_or_else(Vec::new, |r| {
                        r.members
                            .iter()
                            .filter(|u| Some(&u.id) != me)
                            .map(|u| u.name.as_str())
                            .collect()
                    });
                    completions(draft, &names)
                        .into_iter()
                        .map(str::to_owned)
                        .collect::<Vec<_>>()
                })
            })
        })
    };
    let take = move |name: &str| {
        draft.update(|d| *d = complete(d, name));
        crate::browser::focus("message");
    };
    let on_keydown = {
        let send = send.clone();
        move |ev: leptos::ev::KeyboardEvent| {
            let key = ev.key();
            if key == "Enter" && !ev.shift_key() && !ev.is_composing() {
                ev.prevent_default();
                send();
            } else if key == "Tab"
                && !ev.shift_key()
                && let Some(first) = offered.with_untracked(|names| names.first().cloned())
            {
                ev.prevent_default();
                take(&first);
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
    // A room just opened: ready to write in it.
    request_animation_frame(|| crate::browser::focus("message"));
    view! {
        {move || {
            let names = offered.get();
            (!names.is_empty()).then(|| view! {
                <ul class="suggest" aria-label="Mention someone">
                    {names.into_iter().map(|name| view! {
                        <li><button type="button" on:click=move |_| take(&name)>{format!("@{name}")}</button></li>
                    }).collect_view()}
                </ul>
            })
        }}
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
