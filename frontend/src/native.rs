//! The app as a Telegram Mini App: what it tells the Telegram client (ready, expand,
//! which native buttons to show) and what it does when those buttons are pressed. (The
//! theme, viewport and safe-area events are the bridge's own business: CSS variables.)

use crate::model::ChatState;
use crate::socket::Outgoing;
use crate::telegram::{self, post};
use chat_protocol::ClientFrame;
use leptos::prelude::*;

/// Below this width one screen shows at a time (the stylesheet's breakpoint too), and a
/// room has a way back to the list.
const PHONE_MAX_WIDTH: f64 = 700.0;

fn narrow() -> bool {
    web_sys::window()
        .and_then(|w| w.inner_width().ok())
        .and_then(|w| w.as_f64())
        .is_some_and(|w| w < PHONE_MAX_WIDTH)
}

/// Connects the open chat to the Telegram client, for the life of the page.
pub fn connect(state: RwSignal<ChatState>, outgoing: Outgoing) {
    let next_stranger = {
        let outgoing = outgoing.clone();
        move || {
            outgoing.send(ClientFrame::Match {
                interests: Vec::new(),
            })
        }
    };
    telegram::listen(move |kind| match kind {
        "back_button_pressed" => state.update(ChatState::back),
        "main_button_pressed" => next_stranger(),
        _ => {}
    });
    // One effect for both native buttons, posting only what changed; its first run,
    // once the view is mounted, also says the first screen is ready.
    Effect::new(move |before: Option<(bool, bool)>| {
        let (back, next) = state.with(|s| {
            let in_pair = s
                .current
                .as_ref()
                .and_then(|room| s.private.get(room))
                .is_some_and(|p| p.you.is_some() && p.open);
            // The native back button stands in for the room's own back control on a
            // phone; in an open stranger pair the main button moves on to the next one.
            (s.in_room() && narrow(), in_pair)
        });
        if before.is_none() {
            for event in [
                "web_app_ready",
                "web_app_expand",
                "web_app_request_theme",
                "web_app_request_viewport",
                "web_app_request_safe_area",
                "web_app_request_content_safe_area",
            ] {
                post(event, "{}");
            }
        }
        if before.map(|b| b.0) != Some(back) {
            post(
                "web_app_setup_back_button",
                &format!(r#"{{"is_visible":{back}}}"#),
            );
        }
        if before.map(|b| b.1) != Some(next) {
            post(
                "web_app_setup_main_button",
                if next {
                    r#"{"is_visible":true,"is_active":true,"text":"Next stranger"}"#
                } else {
                    r#"{"is_visible":false}"#
                },
            );
        }
        (back, next)
    });
}
