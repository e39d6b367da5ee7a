//! The open room: its timeline, who is typing, who is here, and the composer.

use super::{Composer, PrivateBar, leave_room};
use crate::browser::Reader;
use crate::model::{ChatState, RoomState};
use crate::rich::{Piece, pieces};
use crate::socket::Outgoing;
use crate::timeline::{Entry, entries};
use chat_protocol::{ClientFrame, User};
use leptos::either::Either;
use leptos::prelude::*;

/// Within this many pixels of the bottom counts as "reading the newest messages".
const STICKY_PX: i32 = 48;

#[component]
pub fn RoomView(state: RwSignal<ChatState>, now: RwSignal<i64>) -> impl IntoView {
    let outgoing = expect_context::<Outgoing>();
    // A memo: the composer and the private bar are drawn anew only when the room changes,
    // not on every frame (a draft being typed must survive a message arriving).
    let current = Memo::new(move |_| state.with(|s| s.current.clone()));
    let in_a_room = Memo::new(move |_| current.with(Option::is_some));
    let entries = Memo::new(move |_| {
        state.with(|s| {
            s.current
                .as_ref()
                .and_then(|name| Some((name, s.rooms.get(name)?)))
                .map(|(name, room)| entries(s, name, room, &Reader))
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
        // The oldest message (not the day separator above it, which older messages of the
        // same day keep) tells whether history was prepended.
        let (count, first) = entries.with(|e| {
            let oldest = e
                .iter()
                .find(|entry| matches!(entry, Entry::Message { .. }));
            (e.len(), oldest.map(Entry::key))
        });
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
    // A big room's member list, a page at a time.
    let more_members = move |_| {
        let Some((room, after)) = state.with_untracked(|s| {
            let room = s.current.clone()?;
            let after = s.rooms.get(&room)?.member_cursor.clone()?;
            Some((room, after))
        }) else {
            return;
        };
        leptos::task::spawn_local(async move {
            if let Some((page, more)) = crate::wire::member_page(&room, &after).await {
                state.update(|s| s.add_member_page(&room, page, more));
            }
        });
    };
    let leaver = StoredValue::new(outgoing.clone());
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
        {move || if !in_a_room.get() {
            Either::Left(view! { <main class="room empty"><p>"Join a room to start chatting."</p></main> })
        } else {
            Either::Right(view! {
            <main class="room" aria-label=move || state.with(|s| s.current.as_deref().map(|room| s.title(room)))>
                <header class="room-head">
                    <button class="back" aria-label="Back to rooms" on:click=move |_| state.update(ChatState::back)>"‹"</button>
                    <h2 class="room-title">{move || state.with(|s| s.current.as_deref().map(|room| s.title(room)))}</h2>
                    <span class="online">{move || state.with(|s| {
                        let room = s.current.as_deref()?;
                        let online = s.rooms.get(room).filter(|_| !s.private.contains_key(room))?.online;
                        Some(format!("{online} online"))
                    })}</span>
                    {move || state.with(|s| s.current.as_deref().is_some_and(|room| s.can_leave(room))).then(|| view! {
                        <button class="leave" on:click=move |_| {
                            if let Some(room) = current.get_untracked() {
                                leaver.with_value(|o| leave_room(state, o, &room));
                            }
                        }>"Leave"</button>
                    })}
                </header>
                {move || current.get().map(|room| view! { <PrivateBar state=state room=room /> })}
                <div class="messages" node_ref=list on:scroll=on_scroll.clone() role="log" aria-live="polite" aria-label="Messages">
                    <For each=move || entries.get() key=Entry::key let(entry)>
                        {
                            // One shape for every kind of row: the app's download pays for
                            // each distinct view type, not for each row.
                            let row = Row::of(entry);
                            view! {
                                <div class=row.class>
                                    {row.head.map(|(author, direct, time)| view! {
                                        <div class="meta">
                                            {author.map(|author| view! {
                                                <button
                                                    class="author"
                                                    title=direct.then_some("Message privately")
                                                    disabled=!direct
                                                    on:click={
                                                        let author = author.clone();
                                                        move |_| message_privately(author.clone())
                                                    }
                                                >{author.name.clone()}</button>
                                            })}
                                            <time>{time}</time>
                                        </div>
                                    })}
                                    <p class="text">{rich_text(state, &row.text)}</p>
                                    {row.sending.map(|(client_ref, failed)| view! {
                                        <div class="meta">
                                            <span class:why=failed.is_some()>{
                                                failed.as_ref().map_or_else(|| "Sending…".to_owned(), |why| format!("Not sent: {why}"))
                                            }</span>
                                            {failed.is_some().then(|| view! {
                                                <button class="retry" on:click=retry(client_ref)>"Retry"</button>
                                            })}
                                        </div>
                                    })}
                                </div>
                            }
                        }
                    </For>
                </div>
                {move || unseen.get().then(|| view! {
                    <button class="new-messages" on:click=move |_| to_bottom()>"New messages ↓"</button>
                })}
                <p class="typing" aria-live="polite">{typing}</p>
                {move || current.get().map(|room| view! { <Composer state=state room=room closed=closed /> })}
            </main>
            <aside class="members" aria-label="People here">
                <h2>"Here now"</h2>
                <ul>
                    <For each=members key=|(u, _)| u.id.clone() let((user, private))>
                        <li>
                            <span class="name">{user.name.clone()}</span>
                            {private.then(|| view! {
                                <button class="dm" on:click={
                                    let user = user.clone();
                                    move |_| message_privately(user.clone())
                                }>"Message privately"</button>
                            })}
                        </li>
                    </For>
                </ul>
                {move || state.with(|s| room_of(s).is_some_and(|r| r.member_cursor.is_some())).then(|| view! {
                    <button class="more-members" on:click=more_members>"Show more"</button>
                })}
            </aside>
            })
        }}
    }
}

/// A message's text with its links and mentions as elements; the rest stays text.
fn rich_text(state: RwSignal<ChatState>, text: &str) -> Vec<impl IntoView + use<>> {
    use leptos::either::EitherOf3;
    state.with_untracked(|s| {
        let room = room_of(s);
        let names: Vec<&str> = room
            .map(|r| r.members.iter().map(|u| u.name.as_str()).collect())
            .unwrap_or_default();
        let me = s.current.as_deref().and_then(|room| s.me_in(room));
        pieces(text, &names, me.map(|u| u.name.as_str()))
            .into_iter()
            .map(|piece| match piece {
                Piece::Text(text) => EitherOf3::A(text.to_owned()),
                Piece::Link(url) => EitherOf3::B(view! {
                    <a href=url.to_owned() target="_blank" rel="noopener noreferrer">{url.to_owned()}</a>
                }),
                Piece::Mention { text, me } => EitherOf3::C(view! {
                    <mark class="mention" class:me=me>{text.to_owned()}</mark>
                }),
            })
            .collect()
    })
}

/// The room on screen, if joined.
fn room_of(s: &ChatState) -> Option<&RoomState> {
    s.rooms.get(s.current.as_deref()?)
}

/// A timeline entry as the row that shows it.
struct Row {
    class: &'static str,
    /// Who wrote it (unless grouped under the previous one), whether they can be written
    /// to privately, and when.
    head: Option<(Option<User>, bool, String)>,
    text: String,
    /// A message on its way: its ref, and why it failed if it did.
    sending: Option<(String, Option<String>)>,
}

impl Row {
    fn of(entry: Entry) -> Row {
        let plain = |class, text| Row {
            class,
            head: None,
            text,
            sending: None,
        };
        match entry {
            Entry::Day { label, .. } => plain("day", label),
            Entry::Notice { text, .. } => plain("notice", text),
            Entry::Message {
                author,
                direct,
                text,
                time,
                mine,
                grouped,
                ..
            } => Row {
                class: match (mine, grouped) {
                    (false, false) => "message",
                    (false, true) => "message grouped",
                    (true, false) => "message mine",
                    (true, true) => "message mine grouped",
                },
                head: Some(((!grouped).then_some(author), direct, time)),
                ..plain("", text)
            },
            Entry::Pending {
                client_ref,
                text,
                failed,
            } => Row {
                class: if failed.is_some() {
                    "message mine pending failed"
                } else {
                    "message mine pending"
                },
                sending: Some((client_ref, failed)),
                ..plain("", text)
            },
        }
    }
}
