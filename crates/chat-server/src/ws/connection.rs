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

/// Runs a connection to its end. The reader runs here; writes happen on a separate task
/// so that handling a frame never waits for this peer's socket, and vice versa.
pub async fn run(socket: WebSocket, app: Arc<AppState>, identity: Identity) {
    let conn = app.next_conn_id();
    let (sink, mut stream) = socket.split();
    let (outbox, rx) = Outbox::new(app.config.max_queue_bytes);
    let writer = tokio::spawn(writer::run(
        sink,
        rx,
        outbox.shared().clone(),
        app.config.ping_interval,
    ));
    let welcome = ServerFrame::Welcome {
        user: identity.user.clone(),
        session: identity.session,
        rooms: Vec::new(),
    };
    let _ = outbox.push(encode(&welcome));
    tracing::debug!(conn, user = %identity.user.id, "connected");

    let mut session = Session::new(conn, identity.user, outbox.clone(), app.clone());
    let reason = read_until_closed(&mut stream, &mut session, &app, &outbox).await;
    if reason == CloseReason::Shutdown {
        // Store (and deliver) what this client sent before its socket closes.
        let _ = app.journal.flush().await;
    }
    session.leave_all();
    outbox.shared().close(reason);
    drop(stream);
    let _ = writer.await;
    tracing::debug!(conn, ?reason, "disconnected");
}

async fn read_until_closed(
    stream: &mut SplitStream<WebSocket>,
    session: &mut Session,
    app: &AppState,
    outbox: &Outbox,
) -> CloseReason {
    let closing = outbox.shared().closing().clone();
    loop {
        let next = tokio::select! {
            biased;
            () = closing.cancelled() => {
                return outbox.shared().reason().unwrap_or(CloseReason::PeerGone);
            }
            () = app.shutdown.cancelled() => return CloseReason::Shutdown,
            next = tokio::time::timeout(app.config.idle_timeout, stream.next()) => next,
        };
        let message = match next {
            Err(_elapsed) => return CloseReason::Idle,
            Ok(None) => return CloseReason::PeerGone,
            Ok(Some(Err(err))) => return reason_for_read_error(err),
            Ok(Some(Ok(message))) => message,
        };
        match message {
            Message::Text(text) => session.handle(text.as_str()).await,
            Message::Binary(_) => return CloseReason::Binary,
            Message::Close(_) => return CloseReason::PeerGone,
            // Any frame, pongs included, proves the peer alive; tungstenite answers pings.
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
