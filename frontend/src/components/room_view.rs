//! The open room: its timeline, who is typing, who is here, and the composer.

use super::{Composer, PrivateBar};
use crate::model::{ChatState, RoomState};
use crate::socket::Outgoing;
use chat_protocol::{ClientFrame, SystemEvent, User};
use leptos::prelude::*;

/// Within this many pixels of the bottom counts as "reading the newest messages".
const STICKY_PX: i32 = 48;

/// One line of the timeline.
#[derive(Clone, PartialEq)]
enum Entry {
    Message {
        id: String,
        author: User,
        /// Whether the author can be written to privately from here.
        direct: bool,
        text: String,
        time: String,
        mine: bool,
    },
    Notice {
        key: String,
        text: String,
    },
    Pending {
        client_ref: String,
        text: String,
        failed: Option<String>,
    },
}

impl Entry {
    fn key(&self) -> String {
        match self {
            Entry::Message { id, .. } => id.clone(),
            Entry::Notice { key, .. } => key.clone(),
            Entry::Pending {
                client_ref, failed, ..
            } => format!("{client_ref}/{}", failed.is_some()),
        }
    }
}

fn timeline(state: &ChatState, name: &str, room: &RoomState) -> Vec<Entry> {
    let public = !state.private.contains_key(name);
    let notice = |index: usize, n: &crate::model::Notice| Entry::Notice {
        key: format!("notice-{index}"),
        text: match n.event {
            SystemEvent::Join => format!("{} joined", n.user.name),
            SystemEvent::Leave => format!("{} left", n.user.name),
        },
    };
    let mut entries = Vec::new();
    let mut notices = room.notices.iter().enumerate().peekable();
    for message in room.messages.values() {
        while let Some((index, n)) = notices.next_if(|(_, n)| n.after_seq < message.seq) {
            entries.push(notice(index, n));
        }
        let mine = state.is_mine(message);
        entries.push(Entry::Message {
            id: message.id.clone(),
            author: message.from.clone(),
            direct: public && !mine,
            text: message.text.clone(),
            time: clock(message.ts),
            mine,
        });
    }
    entries.extend(notices.map(|(index, n)| notice(index, n)));
    entries.extend(room.pending.iter().map(|p| Entry::Pending {
        client_ref: p.client_ref.clone(),
        text: p.text.clone(),
        failed: p.failed.clone(),
    }));
    entries
}

/// `HH:MM` in the browser's time zone.
fn clock(ts: i64) -> String {
    let date = js_sys::Date::new(&wasm_bindgen::JsValue::from_f64(ts as f64));
    format!("{:02}:{:02}", date.get_hours(), date.get_minutes())
}

#[component]
pub fn RoomView(state: RwSignal<ChatState>, now: RwSignal<i64>) -> impl IntoView {
    let outgoing = expect_context::<Outgoing>();
    let current = move || state.with(|s| s.current.clone());
    let entries = Memo::new(move |_| {
        state.with(|s| {
            s.current
                .as_ref()
                .and_then(|name| Some((name, s.rooms.get(name)?)))
                .map(|(name, room)| timeline(s, name, room))
                .unwrap_or_default()
        })
    });
    let typing = move || {
        let now = now.get();
        state.with(|s| {
            let names = s
                .current
                .as_ref()
                .and_then(|room| s.rooms.get(room))
                .map(|room| room.typing_names(now))
                .unwrap_or_default();
            match names.len() {
                0 => String::new(),
                1 => format!("{} is typing…", names[0]),
                _ => format!("{} are typing…", names.join(", ")),
            }
        })
    };
    // Everyone here, with whether "Message privately" applies (not yourself, not in a
    // private room).
    let members = move || {
        state.with(|s| {
            let Some(room) = s.current.as_ref() else {
                return Vec::new();
            };
            let public = !s.private.contains_key(room);
            let me = s.me_in(room).map(|u| u.id.as_str());
            s.rooms
                .get(room)
                .map(|r| {
                    r.members
                        .iter()
                        // In a pair, "Stranger" is the other one: your own alias is not listed.
                        .filter(|u| public || Some(u.id.as_str()) != me)
                        .map(|u| (u.clone(), public && Some(u.id.as_str()) != me))
                        .collect()
                })
                .unwrap_or_default()
        })
    };
    let closed = Signal::derive(move || {
        state.with(|s| {
            s.current
                .as_ref()
                .and_then(|room| s.private.get(room))
                .is_some_and(|p| p.you.is_some() && !p.open)
        })
    });
    let direct_sender = StoredValue::new(outgoing.clone());
    let message_privately = move |user: User| {
        let mut frame = None;
        state.update(|s| frame = s.open_direct(user));
        if let Some(frame) = frame {
            direct_sender.with_value(|outgoing| outgoing.send(frame));
        }
    };

    // Stick to the bottom unless the reader scrolled up; then offer a button instead.
    let list = NodeRef::<leptos::html::Div>::new();
    let stuck = RwSignal::new(true);
    let unseen = RwSignal::new(false);
    let to_bottom = move || {
        if let Some(el) = list.get_untracked() {
            el.set_scroll_top(el.scroll_height());
        }
        unseen.set(false);
    };
    // Where the reader was, as distance from the end of the content, when older history
    // was asked for: prepending it must not move what they are looking at (Chromium does
    // not anchor a list scrolled to the very top).
    let anchor = StoredValue::new(None::<(String, i32)>);
    Effect::new(move |previous: Option<(usize, Option<String>)>| {
        let (count, first) = entries.with(|e| (e.len(), e.first().map(Entry::key)));
        let prepended = previous
            .as_ref()
            .is_some_and(|(_, was_first)| was_first.is_some() && *was_first != first);
        let held = anchor
            .get_value()
            .filter(|(room, _)| state.with_untracked(|s| s.current.as_ref() == Some(room)));
        if prepended && let Some((_, from_end)) = held {
            anchor.set_value(None);
            request_animation_frame(move || {
                if let Some(el) = list.get_untracked() {
                    el.set_scroll_top(el.scroll_height() - from_end);
                }
            });
        } else if stuck.get_untracked() {
            request_animation_frame(to_bottom);
        } else if previous.is_some_and(|(p, _)| count > p) {
            unseen.set(true);
        }
        (count, first)
    });
    let older_requested = StoredValue::new(None::<u64>);
    let on_scroll = {
        let outgoing = outgoing.clone();
        move |_| {
            let Some(el) = list.get_untracked() else {
                return;
            };
            let from_bottom = el.scroll_height() - el.scroll_top() - el.client_height();
            stuck.set(from_bottom < STICKY_PX);
            if from_bottom < STICKY_PX {
                unseen.set(false);
            }
            if el.scroll_top() > 0 {
                return;
            }
            // At the top: page back once per oldest message.
            let request = state.with_untracked(|s| {
                let room = s.current.clone()?;
                let state = s.rooms.get(&room)?;
                let first = state.first_seq()?;
                (state.more && older_requested.get_value() != Some(first)).then_some((room, first))
            });
            if let Some((room, before)) = request {
                older_requested.set_value(Some(before));
                anchor.set_value(Some((room.clone(), el.scroll_height() - el.scroll_top())));
                outgoing.send(ClientFrame::History {
                    room,
                    before,
                    limit: Some(50),
                });
            }
        }
    };
    // Copy, so every timeline row can hold its own retry handler.
    let sender = StoredValue::new(outgoing.clone());
    let retry = move |client_ref: String| {
        move |_| {
            let mut frame = None;
            state.update(|s| {
                if let Some(room) = s.current.clone() {
                    frame = s.retry(&room, &client_ref);
                }
            });
            if let Some(frame) = frame {
                sender.with_value(|outgoing| outgoing.send(frame));
            }
        }
    };

    view! {
        <Show
            when=move || current().is_some()
            fallback=|| view! { <main class="room empty"><p>"Join a room to start chatting."</p></main> }
        >
            <main class="room" aria-label=move || state.with(|s| s.current.as_deref().map(|room| s.title(room)))>
                <header class="room-head">
                    <button class="back" aria-label="Back to rooms" on:click=move |_| state.update(ChatState::back)>"‹"</button>
                    <h2 class="room-title">{move || state.with(|s| s.current.as_deref().map(|room| s.title(room)))}</h2>
                </header>
                {move || current().map(|room| view! { <PrivateBar state=state room=room /> })}
                <div class="messages" node_ref=list on:scroll=on_scroll.clone() role="log" aria-live="polite">
                    <For each=move || entries.get() key=Entry::key let(entry)>
                        {match entry {
                            Entry::Message { author, direct, text, time, mine, .. } => view! {
                                <div class="message" class:mine=mine>
                                    <div class="meta">
                                        <button
                                            class="author"
                                            title=direct.then_some("Message privately")
                                            disabled=!direct
                                            on:click={
                                                let author = author.clone();
                                                move |_| message_privately(author.clone())
                                            }
                                        >{author.name.clone()}</button>
                                        <time>{time}</time>
                                    </div>
                                    <p class="text">{text}</p>
                                </div>
                            }.into_any(),
                            Entry::Notice { text, .. } => view! {
                                <p class="notice">{text}</p>
                            }.into_any(),
                            Entry::Pending { client_ref, text, failed } => {
                                let failed_view = failed.clone().map(|why| view! {
                                    <span class="why">{format!("Not sent: {why}")}</span>
                                    <button class="retry" on:click=retry(client_ref.clone())>"Retry"</button>
                                });
                                view! {
                                    <div class="message mine pending" class:failed=failed.is_some()>
                                        <p class="text">{text}</p>
                                        <div class="meta">
                                            {if failed.is_some() { None } else { Some(view! { <span>"Sending…"</span> }) }}
                                            {failed_view}
                                        </div>
                                    </div>
                                }.into_any()
                            }
                        }}
                    </For>
                </div>
                <Show when=move || unseen.get()>
                    <button class="new-messages" on:click=move |_| to_bottom()>"New messages ↓"</button>
                </Show>
                <p class="typing" aria-live="polite">{typing}</p>
                {move || current().map(|room| view! { <Composer state=state room=room closed=closed /> })}
            </main>
            <aside class="members" aria-label="People here">
                <h2>"Here now"</h2>
                <ul>
                    <For each=members key=|(u, _)| u.id.clone() let((user, private))>
                        <li>
                            <span class="name">{user.name.clone()}</span>
                            <Show when=move || private>
                                <button class="dm" on:click={
                                    let user = user.clone();
                                    move |_| message_privately(user.clone())
                                }>"Message privately"</button>
                            </Show>
                        </li>
                    </For>
                </ul>
            </aside>
        </Show>
    }
}
