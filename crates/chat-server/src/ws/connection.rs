//! One connection's life: welcome, read frames until something ends it, clean up, close.
//!
//! One task per connection. It reads and handles the client's frames, keeps time (pings,
//! idle timeout), and takes over writing only while the socket is full; otherwise frames
//! reach the socket from whoever produced them (see [`crate::outbox`]).

use super::frame::{self, FrameError, FrameReader, Incoming};
use super::session::Session;
use crate::hub::encode;
use crate::identity::Identity;
use crate::outbox::{CloseReason, Outbox};
use crate::state::AppState;
use chat_protocol::{MAX_FRAME_BYTES, ServerFrame};
use std::future::poll_fn;
use std::io;
use std::sync::Arc;
use std::task::Poll;
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::time::Instant;

/// How long a closing connection may take to take its last frames and the close frame.
const CLOSE_GRACE: Duration = Duration::from_secs(5);
/// Bytes read per read call. The buffer lives on the stack for the call only, so an idle
/// connection holds none of it.
const READ_CHUNK: usize = 4096;

/// Runs a connection to its end.
pub async fn run<S>(socket: S, app: Arc<AppState>, identity: Identity)
where
    S: AsyncRead + AsyncWrite + Send + 'static,
{
    let conn = app.next_conn_id();
    let outbox = Outbox::new(Box::pin(socket), app.config.max_queue_bytes);
    let welcome = ServerFrame::Welcome {
        user: identity.user.clone(),
        session: identity.session,
        rooms: Vec::new(),
    };
    let _ = outbox.push(encode(&welcome));
    tracing::debug!(conn, user = %identity.user.id, "connected");
    app.metrics.connections.inc();

    let mut session = Session::new(conn, identity.user, outbox.clone(), app.clone());
    let reason = read_until_closed(&mut session, &app, &outbox).await;
    if reason == CloseReason::SlowConsumer {
        app.metrics.slow_consumer_closes.inc();
    }
    if reason == CloseReason::Shutdown {
        // Store (and deliver) what this client sent before its socket closes.
        let _ = app.journal.flush().await;
    }
    session.leave_all();
    outbox.close(reason);
    if reason != CloseReason::PeerGone {
        let close_frame = reason
            .close_frame()
            .map(|(code, text)| frame::close(code, text));
        let _ = tokio::time::timeout(CLOSE_GRACE, outbox.finish(reason, close_frame)).await;
    }
    app.metrics.connections.dec();
    tracing::debug!(conn, ?reason, "disconnected");
}

/// Reads and handles frames until something ends the connection. Also keeps time for
/// the connection: pings every `ping_interval`, and gives up on a peer silent for
/// `idle_timeout`. It wakes for client bytes, those deadlines, and a full socket, never
/// per delivery.
async fn read_until_closed(session: &mut Session, app: &AppState, outbox: &Outbox) -> CloseReason {
    let (ping_every, idle) = (app.config.ping_interval, app.config.idle_timeout);
    let closing = outbox.shared().wait_closing();
    let shutdown = app.shutdown.cancelled();
    let mut heard = Instant::now();
    let mut next_ping = heard + ping_every;
    let timer = tokio::time::sleep_until(next_ping.min(heard + idle));
    let mut frames = FrameReader::new(MAX_FRAME_BYTES);
    tokio::pin!(closing, shutdown, timer);
    loop {
        tokio::select! {
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
                    let _ = outbox.push(frame::ping());
                    next_ping = now + ping_every;
                }
                timer.as_mut().reset(next_ping.min(heard + idle));
            }
            drained = outbox.drain_when_blocked() => {
                if drained.is_err() {
                    return CloseReason::PeerGone;
                }
            }
            read = read_some(outbox, &mut frames) => {
                match read {
                    Ok(0) | Err(_) => return CloseReason::PeerGone,
                    Ok(_) => {}
                }
                // Any bytes, pongs included, prove the peer alive.
                heard = Instant::now();
                timer.as_mut().reset(next_ping.min(heard + idle));
                if let Some(reason) = handle_messages(&mut frames, session, outbox).await {
                    return reason;
                }
            }
        }
    }
}

/// Reads once into a stack buffer and hands the bytes to `frames`.
async fn read_some(outbox: &Outbox, frames: &mut FrameReader) -> io::Result<usize> {
    poll_fn(|cx| {
        let mut chunk = [0u8; READ_CHUNK];
        let mut buf = ReadBuf::new(&mut chunk);
        match outbox.poll_read(cx, &mut buf) {
            Poll::Ready(Ok(())) => {
                frames.extend(buf.filled());
                Poll::Ready(Ok(buf.filled().len()))
            }
            Poll::Ready(Err(err)) => Poll::Ready(Err(err)),
            Poll::Pending => Poll::Pending,
        }
    })
    .await
}

/// Handles every complete message read so far; a reason to close ends it.
async fn handle_messages(
    frames: &mut FrameReader,
    session: &mut Session,
    outbox: &Outbox,
) -> Option<CloseReason> {
    loop {
        match frames.next_message() {
            Ok(None) => return None,
            // Boxed: the handler's state (store queries and all) then costs memory only
            // while a frame is being handled, not for every idle connection.
            Ok(Some(Incoming::Text(text))) => Box::pin(session.handle(&text)).await,
            Ok(Some(Incoming::Ping(payload))) => {
                let _ = outbox.push(frame::pong(&payload));
            }
            Ok(Some(Incoming::Pong)) => {}
            Ok(Some(Incoming::Close)) => return Some(CloseReason::PeerClosed),
            Err(FrameError::Binary) => return Some(CloseReason::Binary),
            Err(FrameError::TooBig) => return Some(CloseReason::TooBig),
            Err(FrameError::NotUtf8) => return Some(CloseReason::NotUtf8),
            Err(FrameError::Protocol) => return Some(CloseReason::Protocol),
        }
    }
}
