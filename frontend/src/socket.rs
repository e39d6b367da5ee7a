//! The one WebSocket: connect, read frames into the model, send what the app queues,
//! and reconnect with exponential backoff and jitter. After a reconnect every room is
//! rejoined with `since` = the last seq seen, so nothing is missed, and messages that
//! were never confirmed are sent again.

use crate::model::ChatState;
use crate::storage;
use chat_protocol::{ClientFrame, ServerFrame};
use futures_channel::mpsc::{UnboundedReceiver, UnboundedSender, unbounded};
use futures_util::StreamExt;
use futures_util::future::{Either, select};
use leptos::prelude::*;
use leptos::task::spawn_local;
use std::collections::BTreeSet;
use wasm_bindgen::JsCast;
use wasm_bindgen::closure::Closure;
use web_sys::{MessageEvent, WebSocket};

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
    /// The server refused the sign-in for good (the reason is in [`SignIn::refused`]).
    Refused,
}

/// Queues frames for the server; they go out as soon as the socket is up.
#[derive(Clone)]
pub struct Outgoing(UnboundedSender<Command>);

/// What the app asks of the connection.
enum Command {
    Send(ClientFrame),
    /// Reconnect at once under this display name (the session keeps the identity).
    Rename(String),
}

impl Outgoing {
    pub fn send(&self, frame: ClientFrame) {
        let _ = self.0.unbounded_send(Command::Send(frame));
    }

    /// Changes the user's display name: the server renames on a connection that
    /// resumes the session with a `name`, so the socket reconnects with it.
    pub fn rename(&self, name: String) {
        let _ = self.0.unbounded_send(Command::Rename(name));
    }
}

/// How a connection ended.
enum Ended {
    /// It dropped (or never opened); whether it got as far as `welcome`.
    Dropped { welcomed: bool },
    /// The user changed their name: reconnect with it now.
    Renamed(String),
}

/// Who connects: a chosen name (plain browser) or Telegram initData (in Telegram).
pub struct SignIn {
    pub name: Option<String>,
    pub tg: Option<String>,
    /// Set (with the status [`Status::Refused`]), and the reconnecting stops, when the
    /// server refuses the sign-in for good (tampered or stale initData): the reason, for
    /// the person to read.
    pub refused: RwSignal<Option<String>>,
}

/// Starts the connection loop; it runs for the life of the page.
pub fn start(sign_in: SignIn, state: RwSignal<ChatState>, status: RwSignal<Status>) -> Outgoing {
    let (tx, rx) = unbounded();
    spawn_local(run(sign_in, state, status, rx));
    Outgoing(tx)
}

fn encode(value: &str) -> String {
    String::from(js_sys::encode_uri_component(value))
}

fn ws_url(name: Option<&str>, tg: Option<&str>) -> String {
    let location = web_sys::window().map(|w| w.location());
    let secure = location
        .as_ref()
        .and_then(|l| l.protocol().ok())
        .is_some_and(|p| p == "https:");
    let host = location
        .and_then(|l| l.host().ok())
        .unwrap_or_else(|| "127.0.0.1:3000".to_owned());
    let scheme = if secure { "wss" } else { "ws" };
    let mut url = format!("{scheme}://{host}/ws");
    let params = [
        ("name", name.map(str::to_owned)),
        ("tg", tg.map(str::to_owned)),
        ("session", storage::session()),
    ];
    for (key, value) in params {
        if let Some(value) = value {
            let separator = if url.contains('?') { "&" } else { "?" };
            url.push_str(&format!("{separator}{key}={}", encode(&value)));
        }
    }
    url
}

async fn run(
    sign_in: SignIn,
    state: RwSignal<ChatState>,
    status: RwSignal<Status>,
    mut outgoing: UnboundedReceiver<Command>,
) {
    let SignIn {
        mut name,
        mut tg,
        refused,
    } = sign_in;
    let mut failures: i32 = 0;
    loop {
        // Refused for good: retrying cannot help, and the reason stays on screen.
        if refused.with_untracked(Option::is_some) {
            status.set(Status::Refused);
            return;
        }
        status.set(Status::Connecting);
        let ended = match Socket::open(&ws_url(name.as_deref(), tg.as_deref())) {
            Some(socket) => run_connection(socket, state, status, &mut outgoing).await,
            None => Ended::Dropped { welcomed: false },
        };
        let welcomed = match ended {
            Ended::Dropped { welcomed } => welcomed,
            Ended::Renamed(new_name) => {
                name = Some(new_name);
                tg = None;
                failures = 0;
                continue;
            }
        };
        if welcomed {
            failures = 0;
            // From now on the session is the credential: initData goes stale after a
            // day, and a Mini App may stay open longer than that.
            tg = None;
        } else if let Some(init_data) = tg.clone() {
            // Ask why, beside the retries (a browser cannot read a refused upgrade).
            spawn_local(async move {
                if let Some(reason) = crate::telegram::refusal(&init_data).await {
                    refused.set(Some(reason));
                    status.set(Status::Refused);
                }
            });
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

/// What the browser's socket reports: a text frame, or that it closed (or failed).
enum Event {
    Text(String),
    Closed,
}

/// A browser WebSocket whose events arrive on a channel; closed when dropped.
struct Socket {
    ws: WebSocket,
    events: UnboundedReceiver<Event>,
    // Kept alive as long as the socket: the browser calls them.
    _on_message: Closure<dyn FnMut(MessageEvent)>,
    _on_close: Closure<dyn FnMut()>,
}

impl Socket {
    fn open(url: &str) -> Option<Socket> {
        let ws = WebSocket::new(url).ok()?;
        let (tx, events) = unbounded();
        let on_message = {
            let tx = tx.clone();
            Closure::<dyn FnMut(MessageEvent)>::new(move |event: MessageEvent| {
                if let Some(text) = event.data().as_string() {
                    let _ = tx.unbounded_send(Event::Text(text));
                }
            })
        };
        let on_close = Closure::<dyn FnMut()>::new(move || {
            let _ = tx.unbounded_send(Event::Closed);
        });
        ws.set_onmessage(Some(on_message.as_ref().unchecked_ref()));
        ws.set_onclose(Some(on_close.as_ref().unchecked_ref()));
        ws.set_onerror(Some(on_close.as_ref().unchecked_ref()));
        Some(Socket {
            ws,
            events,
            _on_message: on_message,
            _on_close: on_close,
        })
    }

    /// Sends a frame; false once the socket is closing or closed.
    fn send(&self, frame: &ClientFrame) -> bool {
        self.ws.ready_state() <= WebSocket::OPEN
            && self.ws.send_with_str(&crate::wire::encode(frame)).is_ok()
    }
}

impl Drop for Socket {
    fn drop(&mut self) {
        self.ws.set_onmessage(None);
        self.ws.set_onclose(None);
        self.ws.set_onerror(None);
        let _ = self.ws.close();
    }
}

/// Runs one connection until it drops or the user renames themself.
async fn run_connection(
    mut socket: Socket,
    state: RwSignal<ChatState>,
    status: RwSignal<Status>,
    outgoing: &mut UnboundedReceiver<Command>,
) -> Ended {
    let mut welcomed = false;
    // Refs resent on resuming: the same sends may still wait in the channel.
    let mut resent: BTreeSet<String> = BTreeSet::new();
    // Frames queued before the socket opened wait in `outgoing`; the browser would
    // refuse them while connecting, so they are read only after `welcome`.
    loop {
        let next_out = async {
            if welcomed {
                outgoing.next().await
            } else {
                std::future::pending().await
            }
        };
        match select(socket.events.next(), std::pin::pin!(next_out)).await {
            Either::Left((Some(Event::Text(text)), _)) => {
                let Some(frame) = crate::wire::decode(&text) else {
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
                        if !socket.send(&resume) {
                            return Ended::Dropped { welcomed };
                        }
                    }
                    continue;
                }
                match &frame {
                    ServerFrame::Message { message, .. } => {
                        crate::attention::on_message(state, message);
                    }
                    ServerFrame::Joined { room, history, .. } => {
                        crate::attention::on_joined(state, room, history);
                    }
                    ServerFrame::Matched { .. } => crate::telegram::haptic("success"),
                    ServerFrame::Error {
                        client_ref: Some(_),
                        ..
                    } => crate::telegram::haptic("error"),
                    _ => {}
                }
                state.update(|s| s.apply(frame, now_ms()));
            }
            Either::Left((Some(Event::Closed) | None, _)) | Either::Right((None, _)) => {
                return Ended::Dropped { welcomed };
            }
            Either::Right((Some(Command::Rename(name)), _)) => return Ended::Renamed(name),
            Either::Right((Some(Command::Send(frame)), _)) => {
                // Sends written while offline are in the model's pending list and went
                // out with the resume frames above: don't send them twice.
                if frame.client_ref().is_some_and(|r| resent.contains(r)) {
                    continue;
                }
                if !socket.send(&frame) {
                    return Ended::Dropped { welcomed };
                }
            }
        }
    }
}

/// Milliseconds since the epoch, from the browser's clock.
pub fn now_ms() -> i64 {
    js_sys::Date::now() as i64
}
