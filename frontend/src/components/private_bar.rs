//! The bar over a private room: Block for a direct conversation; for a stranger, the
//! shared interests, Next, End, Block and Report, or, once it is over, a way to the next.

use crate::model::ChatState;
use crate::socket::Outgoing;
use chat_protocol::ClientFrame;
use leptos::either::EitherOf3;
use leptos::prelude::*;

#[component]
pub fn PrivateBar(state: RwSignal<ChatState>, room: String) -> impl IntoView {
    let outgoing = StoredValue::new(expect_context::<Outgoing>());
    let send = move |frame: ClientFrame| outgoing.with_value(|o| o.send(frame));
    let next = move |_| {
        send(ClientFrame::Match {
            interests: Vec::new(),
        })
    };
    let info = {
        let room = room.clone();
        move || {
            state.with(|s| {
                let p = s.private.get(&room)?;
                Some((p.clone(), s.blocked.contains(&p.peer.id)))
            })
        }
    };
    let room = StoredValue::new(room);
    let block = move |_| {
        let (user, room) = match state.with_untracked(|s| s.private.get(&room.get_value()).cloned())
        {
            Some(p) if p.you.is_none() => (Some(p.peer.id), None),
            _ => (None, Some(room.get_value())),
        };
        send(ClientFrame::Block {
            user,
            room,
            client_ref: None,
        });
    };
    let report = move |_| {
        let reason = web_sys::window()
            .and_then(|w| {
                w.prompt_with_message("Why are you reporting this chat?")
                    .ok()
            })
            .flatten();
        if let Some(reason) = reason.filter(|r| !r.trim().is_empty()) {
            send(ClientFrame::Report {
                room: room.get_value(),
                reason,
                client_ref: None,
            });
        }
    };
    move || {
        let (private, blocked) = info()?;
        Some(if private.you.is_none() {
            let toggle = move |ev| {
                if blocked {
                    send(ClientFrame::Unblock {
                        user: private.peer.id.clone(),
                        client_ref: None,
                    });
                } else {
                    block(ev);
                }
            };
            EitherOf3::A(view! {
                <div class="private-bar">
                    <button on:click=toggle>{if blocked { "Unblock" } else { "Block" }}</button>
                </div>
            })
        } else if private.open {
            let common = (!private.common.is_empty())
                .then(|| format!("You both like {}", private.common.join(", ")));
            EitherOf3::B(view! {
                <div class="private-bar">
                    <span class="common">{common}</span>
                    <button on:click=next>"Next"</button>
                    <button on:click=move |_| send(ClientFrame::Leave { room: room.get_value() })>"End"</button>
                    <button on:click=block>"Block"</button>
                    <button on:click=report>"Report"</button>
                </div>
            })
        } else {
            EitherOf3::C(view! {
                <div class="private-bar closed" role="status">
                    <span>"The stranger left this chat."</span>
                    <button on:click=next>"Find a new stranger"</button>
                </div>
            })
        })
    }
}
