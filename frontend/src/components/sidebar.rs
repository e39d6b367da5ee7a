//! Rooms: the ones joined (with unread counts), public rooms with online counts (kept
//! fresh), and a field to join or create a room by name.

use crate::model::ChatState;
use crate::socket::Outgoing;
use chat_protocol::{ClientFrame, RoomSummary, validate};
use leptos::prelude::*;
use leptos::task::spawn_local;

/// How often the public room list is refreshed.
const REFRESH: std::time::Duration = std::time::Duration::from_secs(10);

#[component]
pub fn Sidebar(state: RwSignal<ChatState>) -> impl IntoView {
    let outgoing = expect_context::<Outgoing>();
    let public = RwSignal::new(Vec::<RoomSummary>::new());
    let refresh = move || {
        spawn_local(async move {
            let rooms = async {
                gloo_net::http::Request::get("/api/rooms")
                    .send()
                    .await?
                    .json::<Vec<RoomSummary>>()
                    .await
            };
            if let Ok(rooms) = rooms.await {
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
                outgoing.send(ClientFrame::Join { room, since: None });
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
                .map(|(room, r)| (room.clone(), r.unread, s.current.as_deref() == Some(room)))
                .collect::<Vec<_>>()
        })
    };
    view! {
        <nav class="sidebar" aria-label="Rooms">
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
                <For each=joined key=|(room, unread, current)| (room.clone(), *unread, *current) let((room, unread, current))>
                    <li>
                        <button
                            class:current=current
                            aria-current=move || current.then_some("true")
                            on:click={
                                let room = room.clone();
                                move |_| state.update(|s| s.open(&room))
                            }
                        >
                            <span class="name">{room.clone()}</span>
                            <Show when=move || { unread > 0 }>
                                <span class="badge" aria-label="unread messages">{unread}</span>
                            </Show>
                        </button>
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
        </nav>
    }
}
