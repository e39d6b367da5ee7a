//! Rooms: the ones joined (with unread counts), public rooms with online counts (kept
//! fresh), and a field to join or create a room by name.

use crate::model::ChatState;
use crate::socket::Outgoing;
use chat_protocol::{ClientFrame, RoomSummary, validate};
use leptos::either::Either;
use leptos::prelude::*;
use leptos::task::spawn_local;

/// How often the public room list is refreshed.
const REFRESH: std::time::Duration = std::time::Duration::from_secs(10);

#[component]
pub fn Sidebar(state: RwSignal<ChatState>, now: RwSignal<i64>) -> impl IntoView {
    let outgoing = expect_context::<Outgoing>();
    let public = RwSignal::new(Vec::<RoomSummary>::new());
    let refresh = move || {
        spawn_local(async move {
            if let Some(rooms) = crate::wire::public_rooms().await {
                public.set(rooms);
            }
        });
    };
    refresh();
    if let Ok(timer) = set_interval_with_handle(refresh, REFRESH) {
        on_cleanup(move || timer.clear());
    }

    let draft = RwSignal::new(String::new());
    let problem = RwSignal::new(None::<String>);
    let join = {
        let outgoing = outgoing.clone();
        move |room: String| {
            if state.with_untracked(|s| s.rooms.contains_key(&room)) {
                state.update(|s| s.open(&room));
            } else {
                let mut frame = None;
                state.update(|s| frame = Some(s.join(room)));
                if let Some(frame) = frame {
                    outgoing.send(frame);
                }
            }
        }
    };
    let join_typed = {
        let join = join.clone();
        move |ev: leptos::ev::SubmitEvent| {
            ev.prevent_default();
            let room = draft.get_untracked().trim().to_owned();
            match validate::room(&room) {
                Ok(kind) if !kind.is_private() => {
                    problem.set(None);
                    draft.set(String::new());
                    join(room);
                }
                _ => problem.set(Some(
                    "Room names are letters, digits, _ . and -, up to 64".to_owned(),
                )),
            }
        }
    };
    let joined = move || {
        state.with(|s| {
            s.rooms
                .iter()
                .map(|(room, r)| {
                    (
                        room.clone(),
                        s.title(room),
                        r.unread,
                        s.current.as_deref() == Some(room),
                        s.can_leave(room),
                    )
                })
                .collect::<Vec<_>>()
        })
    };
    let leaver = StoredValue::new(outgoing.clone());
    view! {
        <nav class="sidebar" aria-label="Rooms">
            <Stranger state=state now=now />
            <form class="join" on:submit=join_typed>
                <label for="join-room">"Join or create a room"</label>
                <div class="row">
                    <input
                        id="join-room"
                        placeholder="room name"
                        prop:value=move || draft.get()
                        on:input=move |ev| draft.set(event_target_value(&ev))
                    />
                    <button type="submit">"Join"</button>
                </div>
                <p class="problem" role="alert">{move || problem.get()}</p>
            </form>
            <h2>"Your rooms"</h2>
            <ul class="rooms joined">
                <For each=joined key=|entry| entry.clone() let((room, title, unread, current, leavable))>
                    <li>
                        <button
                            class:current=current
                            class:unread={unread > 0}
                            aria-current=move || current.then_some("true")
                            on:click={
                                let room = room.clone();
                                move |_| state.update(|s| s.open(&room))
                            }
                        >
                            <span class="name">{title.clone()}</span>
                            {(unread > 0).then(|| view! {
                                <span class="badge" aria-label="unread messages">{unread}</span>
                            })}
                        </button>
                        {leavable.then(|| view! {
                            <button
                                class="leave"
                                aria-label=format!("Leave {title}")
                                on:click={
                                    let room = room.clone();
                                    move |_| leaver.with_value(|o| leave_room(state, o, &room))
                                }
                            >"×"</button>
                        })}
                    </li>
                </For>
            </ul>
            <h2>"Public rooms"</h2>
            <ul class="rooms public">
                <For each=move || state.with(|s| s.with_live_counts(public.get())) key=|r| (r.room.clone(), r.online) let(summary)>
                    <li>
                        <button on:click={
                            let join = join.clone();
                            let room = summary.room.clone();
                            move |_| join(room.clone())
                        }>
                            <span class="name">{summary.room.clone()}</span>
                            <span class="online" aria-label="people online">{summary.online}</span>
                        </button>
                    </li>
                </For>
            </ul>
            <Blocked state=state />
        </nav>
    }
}

/// Leaves `room` (from the list or its header) for good: it is not rejoined next visit.
pub fn leave_room(state: RwSignal<ChatState>, outgoing: &Outgoing, room: &str) {
    let mut frame = None;
    state.update(|s| frame = s.leave(room));
    if let Some(frame) = frame {
        crate::storage::forget_room(room);
        outgoing.send(frame);
    }
}

/// "Talk to a stranger": optional interests, then a wait with its time and Cancel.
#[component]
fn Stranger(state: RwSignal<ChatState>, now: RwSignal<i64>) -> impl IntoView {
    let outgoing = expect_context::<Outgoing>();
    let interests = RwSignal::new(String::new());
    let find = {
        let outgoing = outgoing.clone();
        move |ev: leptos::ev::SubmitEvent| {
            ev.prevent_default();
            let tags = interests.get_untracked();
            let interests = tags
                .split([',', ' '])
                .filter(|t| !t.is_empty())
                .map(str::to_owned)
                .collect();
            outgoing.send(ClientFrame::Match { interests });
        }
    };
    let waited = move || {
        let since = state.with(|s| s.waiting_since)?;
        Some(format!(
            "Looking for a stranger… {} s",
            (now.get() - since).max(0) / 1000
        ))
    };
    view! {
        <form class="stranger" on:submit=find>
            {move || match waited() {
                Some(text) => Either::Left(view! {
                    <span role="status">{text}</span>
                    <button type="button" on:click={
                        let outgoing = outgoing.clone();
                        move |_| outgoing.send(ClientFrame::Unmatch)
                    }>"Cancel"</button>
                }),
                None => Either::Right(view! {
                    <input
                        aria-label="Interests (optional)"
                        placeholder="interests, e.g. music, chess"
                        prop:value=move || interests.get()
                        on:input=move |ev| interests.set(event_target_value(&ev))
                    />
                    <button type="submit">"Talk to a stranger"</button>
                }),
            }}
        </form>
    }
}

/// The users this user blocked, each with Unblock.
#[component]
fn Blocked(state: RwSignal<ChatState>) -> impl IntoView {
    let outgoing = expect_context::<Outgoing>();
    let blocked = move || {
        state.with(|s| {
            s.blocked
                .iter()
                .map(|id| {
                    let name = s.private.values().find(|p| p.peer.id == *id);
                    (
                        id.clone(),
                        name.map_or_else(|| id.clone(), |p| p.peer.name.clone()),
                    )
                })
                .collect::<Vec<_>>()
        })
    };
    view! {
        <details class="settings">
            <summary>"Blocked users"</summary>
            <ul>
                <For each=blocked key=|entry| entry.clone() let((id, name))>
                    <li>
                        {name}
                        <button on:click={
                            let outgoing = outgoing.clone();
                            move |_| outgoing.send(ClientFrame::Unblock { user: id.clone(), client_ref: None })
                        }>"Unblock"</button>
                    </li>
                </For>
            </ul>
        </details>
    }
}
