//! The one WebSocket: connect, read frames into the model, send what the app queues,
//! and reconnect with exponential backoff and jitter. After a reconnect every room is
//! rejoined with `since` = the last seq seen, so nothing is missed, and messages that
//! were never confirmed are sent again.

use crate::model::ChatState;
use crate::storage;
use chat_protocol::{ClientFrame, ServerFrame};
use futures_channel::mpsc::{UnboundedReceiver, UnboundedSender, unbounded};
use futures_util::future::{Either, select};
use futures_util::{SinkExt, StreamExt};
use gloo_net::websocket::Message;
use gloo_net::websocket::futures::WebSocket;
use leptos::prelude::*;
use leptos::task::spawn_local;
use std::collections::BTreeSet;

/// First wait after a dropped connection; doubles per failed attempt up to the cap.
const BACKOFF_START_MS: f64 = 500.0;
const BACKOFF_CAP_MS: f64 = 30_000.0;

/// What the connection is doing, for the status indicator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    Connecting,
    Online,
    /// Waiting this many seconds before the next attempt.
    Offline {
        retry_in_s: u32,
    },
}

/// Queues frames for the server; they go out as soon as the socket is up.
#[derive(Clone)]
pub struct Outgoing(UnboundedSender<ClientFrame>);

impl Outgoing {
    pub fn send(&self, frame: ClientFrame) {
        let _ = self.0.unbounded_send(frame);
    }
}

/// Starts the connection loop for `name`; it runs for the life of the page.
pub fn start(name: String, state: RwSignal<ChatState>, status: RwSignal<Status>) -> Outgoing {
    let (tx, rx) = unbounded();
    spawn_local(run(name, state, status, rx));
    Outgoing(tx)
}

fn ws_url(name: &str) -> String {
    let location = web_sys::window().map(|w| w.location());
    let secure = location
        .as_ref()
        .and_then(|l| l.protocol().ok())
        .is_some_and(|p| p == "https:");
    let host = location
        .and_then(|l| l.host().ok())
        .unwrap_or_else(|| "127.0.0.1:3000".to_owned());
    let scheme = if secure { "wss" } else { "ws" };
    let mut url = format!(
        "{scheme}://{host}/ws?name={}",
        String::from(js_sys::encode_uri_component(name))
    );
    if let Some(session) = storage::session() {
        url.push_str("&session=");
        url.push_str(&String::from(js_sys::encode_uri_component(&session)));
    }
    url
}

async fn run(
    name: String,
    state: RwSignal<ChatState>,
    status: RwSignal<Status>,
    mut outgoing: UnboundedReceiver<ClientFrame>,
) {
    let mut failures: i32 = 0;
    loop {
        status.set(Status::Connecting);
        if let Ok(socket) = WebSocket::open(&ws_url(&name))
            && run_connection(socket, state, status, &mut outgoing).await
        {
            failures = 0;
        }
        failures += 1;
        let ceiling = (BACKOFF_START_MS * 2f64.powi(failures - 1)).min(BACKOFF_CAP_MS);
        // Full jitter: reconnecting clients spread out instead of arriving together.
        let wait_ms = ceiling * (0.5 + js_sys::Math::random() / 2.0);
        status.set(Status::Offline {
            retry_in_s: (wait_ms / 1000.0).ceil() as u32,
        });
        gloo_timers::future::TimeoutFuture::new(wait_ms as u32).await;
    }
}

/// Runs one connection until it drops. Returns whether it got as far as `welcome`.
async fn run_connection(
    socket: WebSocket,
    state: RwSignal<ChatState>,
    status: RwSignal<Status>,
    outgoing: &mut UnboundedReceiver<ClientFrame>,
) -> bool {
    let (mut write, mut read) = socket.split();
    let mut welcomed = false;
    // Refs resent on resuming: the same sends may still wait in the channel.
    let mut resent: BTreeSet<String> = BTreeSet::new();
    loop {
        match select(read.next(), outgoing.next()).await {
            Either::Left((Some(Ok(Message::Text(text))), _)) => {
                let Ok(frame) = chat_protocol::decode_server_frame(&text) else {
                    continue;
                };
                if let ServerFrame::Welcome { session, .. } = &frame {
                    storage::set_session(session);
                    welcomed = true;
                    status.set(Status::Online);
                    state.update(|s| s.apply(frame, now_ms()));
                    for resume in state.with_untracked(ChatState::resume_frames) {
                        if let Some(r) = resume.client_ref() {
                            resent.insert(r.to_owned());
                        }
                        if send(&mut write, &resume).await.is_err() {
                            return welcomed;
                        }
                    }
                    continue;
                }
                state.update(|s| s.apply(frame, now_ms()));
            }
            Either::Left((Some(Ok(Message::Bytes(_))), _)) => {}
            Either::Left((Some(Err(_)) | None, _)) => return welcomed,
            Either::Right((Some(frame), _)) => {
                // Sends written while offline are in the model's pending list and went
                // out with the resume frames above: don't send them twice.
                if frame.client_ref().is_some_and(|r| resent.contains(r)) {
                    continue;
                }
                if send(&mut write, &frame).await.is_err() {
                    return welcomed;
                }
            }
            Either::Right((None, _)) => return welcomed,
        }
    }
}

async fn send(
    write: &mut futures_util::stream::SplitSink<WebSocket, Message>,
    frame: &ClientFrame,
) -> Result<(), gloo_net::websocket::WebSocketError> {
    let text = serde_json::to_string(frame).unwrap_or_default();
    write.send(Message::Text(text)).await
}

/// Milliseconds since the epoch, from the browser's clock.
pub fn now_ms() -> i64 {
    js_sys::Date::now() as i64
}
