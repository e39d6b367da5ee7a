//! One connection's life: welcome, read frames until something ends it, clean up, close.

use super::session::Session;
use super::writer;
use crate::hub::encode;
use crate::identity::Identity;
use crate::outbox::{CloseReason, Outbox};
use crate::state::AppState;
use axum::extract::ws::{Message, WebSocket};
use chat_protocol::ServerFrame;
use futures_util::StreamExt;
use futures_util::stream::SplitStream;
use std::sync::Arc;
use tokio::time::Instant;

/// Runs a connection to its end. The reader runs here; writes happen on a separate task
/// so that handling a frame never waits for this peer's socket, and vice versa.
pub async fn run(socket: WebSocket, app: Arc<AppState>, identity: Identity) {
    let conn = app.next_conn_id();
    let (sink, mut stream) = socket.split();
    let (outbox, rx) = Outbox::new(app.config.max_queue_bytes);
    let writer = tokio::spawn(writer::run(sink, rx, outbox.shared().clone()));
    let welcome = ServerFrame::Welcome {
        user: identity.user.clone(),
        session: identity.session,
        rooms: Vec::new(),
    };
    let _ = outbox.push(encode(&welcome));
    tracing::debug!(conn, user = %identity.user.id, "connected");
    app.metrics.connections.inc();

    let mut session = Session::new(conn, identity.user, outbox.clone(), app.clone());
    let reason = read_until_closed(&mut stream, &mut session, &app, &outbox).await;
    if reason == CloseReason::SlowConsumer {
        app.metrics.slow_consumer_closes.inc();
    }
    if reason == CloseReason::Shutdown {
        // Store (and deliver) what this client sent before its socket closes.
        let _ = app.journal.flush().await;
    }
    session.leave_all();
    outbox.close(reason);
    drop(stream);
    let _ = writer.await;
    app.metrics.connections.dec();
    tracing::debug!(conn, ?reason, "disconnected");
}

/// Reads and handles frames until something ends the connection. Also keeps time for
/// the connection: pings every `ping_interval`, and gives up on a peer silent for
/// `idle_timeout`. It wakes only for client frames and those deadlines, never per
/// delivery.
async fn read_until_closed(
    stream: &mut SplitStream<WebSocket>,
    session: &mut Session,
    app: &AppState,
    outbox: &Outbox,
) -> CloseReason {
    let (ping_every, idle) = (app.config.ping_interval, app.config.idle_timeout);
    let closing = outbox.shared().wait_closing();
    let shutdown = app.shutdown.cancelled();
    let mut heard = Instant::now();
    let mut next_ping = heard + ping_every;
    let timer = tokio::time::sleep_until(next_ping.min(heard + idle));
    tokio::pin!(closing, shutdown, timer);
    loop {
        let next = tokio::select! {
            biased;
            () = &mut closing => {
                return outbox.shared().reason().unwrap_or(CloseReason::PeerGone);
            }
            () = &mut shutdown => return CloseReason::Shutdown,
            () = &mut timer => {
                let now = Instant::now();
                if now >= heard + idle {
                    return CloseReason::Idle;
                }
                if now >= next_ping {
                    outbox.ping();
                    next_ping = now + ping_every;
                }
                timer.as_mut().reset(next_ping.min(heard + idle));
                continue;
            }
            next = stream.next() => next,
        };
        let message = match next {
            None => return CloseReason::PeerGone,
            Some(Err(err)) => return reason_for_read_error(err),
            Some(Ok(message)) => message,
        };
        // Any frame, pongs included, proves the peer alive; tungstenite answers pings.
        heard = Instant::now();
        timer.as_mut().reset(next_ping.min(heard + idle));
        match message {
            // Boxed: the handler's state (store queries and all) then costs memory only
            // while a frame is being handled, not for every idle connection.
            Message::Text(text) => Box::pin(session.handle(text.as_str())).await,
            Message::Binary(_) => return CloseReason::Binary,
            Message::Close(_) => return CloseReason::PeerGone,
            Message::Ping(_) | Message::Pong(_) => {}
        }
    }
}

/// A frame over the size limit gets 1009; any other read error means the peer is gone.
fn reason_for_read_error(err: axum::Error) -> CloseReason {
    use tokio_tungstenite::tungstenite::Error;
    match err.into_inner().downcast_ref::<Error>() {
        Some(Error::Capacity(_)) => CloseReason::TooBig,
        _ => CloseReason::PeerGone,
    }
}
