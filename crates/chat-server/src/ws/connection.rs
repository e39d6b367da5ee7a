//! One connection's life: welcome, read frames until something ends it, clean up, close.
//!
//! One task per connection. It reads and handles the client's frames, keeps time (pings,
//! idle timeout), and takes over writing only while the socket is full; otherwise frames
//! reach the socket from whoever produced them (see [`crate::outbox`]).

use super::handler::Handler;
use crate::identity::Identity;
use crate::outbox::{CloseReason, Outbox, Sink};
use crate::outgoing::encode;
use crate::roster::{Control, Mailbox};
use crate::state::AppState;
use chat_protocol::{MAX_FRAME_BYTES, PrivateRoom, ServerFrame};
use chat_wire::{CloseCode, FrameError, FrameReader, Incoming, frame};
use std::future::poll_fn;
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::io::ReadBuf;
use tokio::time::{Instant, Sleep};
use tokio_util::sync::WaitForCancellationFuture;

/// Bytes read per read call. The buffer lives on the stack for the call only, so an idle
/// connection holds none of it.
const READ_CHUNK: usize = 4096;

/// How a connection ends: the reason, and the close code when it is not the reason's own
/// (the peer's code, echoed back).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Ending {
    reason: CloseReason,
    code: Option<(CloseCode, &'static str)>,
}

impl From<CloseReason> for Ending {
    fn from(reason: CloseReason) -> Self {
        Ending { reason, code: None }
    }
}

/// What `welcome` lists besides the user: their private rooms and whom they blocked.
#[derive(Debug, Default)]
pub struct WelcomeLists {
    pub rooms: Vec<PrivateRoom>,
    pub blocked: Vec<String>,
}

/// What a connection starts from, decided before the upgrade. Boxed by the caller: the
/// connection's task then carries one pointer for it rather than the values, which it
/// would otherwise hold (unused) for as long as the connection lives.
pub struct Start {
    pub app: Arc<AppState>,
    pub identity: Identity,
    pub lists: WelcomeLists,
}

/// A welcomed connection: what its loop needs, and nothing else.
struct Open {
    handler: Handler,
    outbox: Outbox,
    controls: Arc<Mailbox>,
}

/// Runs a connection to its end.
///
/// Its start (welcome, roster, bot) and its end (the closing handshake) run boxed, so
/// that their state exists only while they run: an idle connection's task holds its
/// handler and its read loop, which is most of what thousands of them cost.
pub async fn run(sink: Sink, start: Box<Start>) {
    let Open {
        mut handler,
        outbox,
        controls,
    } = Box::pin(open(sink, *start)).await;
    let app = handler.app.clone();
    let ending = read_until_closed(&mut handler, &app, &outbox, &controls).await;
    Box::pin(close(handler, outbox, controls, ending)).await;
}

/// Registers the connection and sends `welcome`.
async fn open(sink: Sink, start: Start) -> Open {
    let Start {
        app,
        identity,
        lists,
    } = start;
    let conn = app.next_conn_id();
    let outbox = Outbox::new(sink, app.config.max_queue_bytes);
    tracing::debug!(conn, user = %identity.user.id, "connected");
    app.metrics.connections.inc();
    let controls = Arc::new(Mailbox::default());
    // In the roster before `welcome`: a client that has its welcome can be written to
    // (a direct message then reaches this connection from any node).
    app.roster
        .connect(&identity.user, conn, controls.clone())
        .await;
    let welcome = ServerFrame::Welcome {
        user: identity.user.clone(),
        session: identity.session.clone(),
        rooms: lists.rooms,
        blocked: lists.blocked,
    };
    let _ = outbox.push(encode(&welcome));
    if let Some(bot) = &app.bot {
        bot.opened_app(&identity.user.id).await;
    }
    Open {
        handler: Handler::new(conn, identity, outbox.clone(), app),
        outbox,
        controls,
    }
}

/// Leaves everything the connection was part of and closes its socket.
async fn close(mut handler: Handler, outbox: Outbox, controls: Arc<Mailbox>, ending: Ending) {
    let app = handler.app.clone();
    let (user_id, conn) = (handler.user.id.clone(), handler.conn);
    // Nothing more reaches this connection: what others still ask of it is moot.
    app.roster.disconnect(&user_id, conn);
    controls.close();
    app.pairing.connection_closed(&user_id, conn).await;
    let reason = ending.reason;
    if reason == CloseReason::SlowConsumer {
        app.metrics.slow_consumer_closes.inc();
    }
    if reason == CloseReason::Shutdown {
        // Store (and deliver) what this client sent before its socket closes.
        let _ = app.journal.flush().await;
    }
    handler.leave_all();
    outbox.close(reason);
    let close_frame = ending
        .code
        .or_else(|| reason.close_frame())
        .map(|(code, text)| frame::close(code, text));
    if reason != CloseReason::PeerGone {
        close_gracefully(&outbox, reason, close_frame, app.config.close_grace).await;
    }
    app.metrics.connections.dec();
    tracing::debug!(conn, ?reason, "disconnected");
}

/// Ends the connection as RFC 6455 §7 asks: what the reason allows of the queue (for a
/// slow consumer, only the rest of a frame already started, so the stream stays
/// well-formed), the close frame, then the write side shut; then it waits for the peer
/// to hang up, reading and discarding, so that unread data cannot turn the close into
/// a reset that loses the close frame. A peer that takes longer than `grace` for all of
/// this (one that stopped reading, say) is dropped.
pub async fn close_gracefully(
    outbox: &Outbox,
    reason: CloseReason,
    close_frame: Option<bytes::Bytes>,
    grace: Duration,
) {
    let closing = async {
        outbox.finish(reason, close_frame).await?;
        let mut sink = [0u8; 512];
        loop {
            let mut buf = ReadBuf::new(&mut sink);
            poll_fn(|cx| outbox.poll_read(cx, &mut buf)).await?;
            if buf.filled().is_empty() {
                return Ok::<(), io::Error>(());
            }
        }
    };
    let _ = tokio::time::timeout(grace, closing).await;
}

/// What woke a connection's task, most urgent first.
enum Wake {
    Closing(CloseReason),
    Shutdown,
    Timer,
    Control(Control),
    /// The socket had blocked and the queue is now written out, or failed.
    Drained(io::Result<()>),
    /// Bytes read into the frame reader (0 at the end of the stream).
    Read(io::Result<usize>),
}

/// Reads and handles frames until something ends the connection. Also keeps time for
/// the connection: pings every `ping_interval`, and gives up on a peer silent for
/// `idle_timeout`. It wakes for client bytes, those deadlines, a control, a full socket
/// and the start of closing, never per delivery.
///
/// Why one poll function rather than a `select!` over futures: the futures of its
/// branches and their output are part of every idle connection's task, which was most
/// of what an idle connection cost (BENCHMARKS.md, "Idle connections"). The outbox and
/// the mailbox wake the task through registrations instead, so waiting holds only the
/// timer and the shutdown signal.
async fn read_until_closed(
    handler: &mut Handler,
    app: &AppState,
    outbox: &Outbox,
    controls: &Mailbox,
) -> Ending {
    let (ping_every, idle) = (app.config.ping_interval, app.config.idle_timeout);
    let shutdown = app.shutdown.cancelled();
    let mut heard = Instant::now();
    let mut next_ping = heard + ping_every;
    let timer = tokio::time::sleep_until(next_ping.min(heard + idle));
    let mut frames = FrameReader::new(MAX_FRAME_BYTES);
    tokio::pin!(shutdown, timer);
    loop {
        let wake = poll_fn(|cx| {
            next_wake(
                cx,
                outbox,
                controls,
                shutdown.as_mut(),
                timer.as_mut(),
                &mut frames,
            )
        })
        .await;
        match wake {
            Wake::Closing(reason) => return reason.into(),
            Wake::Shutdown => return CloseReason::Shutdown.into(),
            Wake::Timer => {
                let now = Instant::now();
                if now >= heard + idle {
                    return CloseReason::Idle.into();
                }
                if now >= next_ping {
                    let _ = outbox.push(frame::ping());
                    next_ping = now + ping_every;
                }
                timer.as_mut().reset(next_ping.min(heard + idle));
            }
            Wake::Control(control) => Box::pin(handler.on_control(control)).await,
            Wake::Drained(Ok(())) => {}
            Wake::Drained(Err(_)) | Wake::Read(Ok(0) | Err(_)) => {
                return CloseReason::PeerGone.into();
            }
            Wake::Read(Ok(_)) => {
                // Any bytes, pongs included, prove the peer alive.
                heard = Instant::now();
                timer.as_mut().reset(next_ping.min(heard + idle));
                if let Some(ending) = handle_messages(&mut frames, handler, outbox).await {
                    return ending;
                }
            }
        }
    }
}

/// Polls what can wake a connection, in order of urgency: closing, shutdown, the timer,
/// controls, a blocked socket, then the client's bytes (read into `frames`).
fn next_wake(
    cx: &mut Context<'_>,
    outbox: &Outbox,
    controls: &Mailbox,
    shutdown: Pin<&mut WaitForCancellationFuture<'_>>,
    timer: Pin<&mut Sleep>,
    frames: &mut FrameReader,
) -> Poll<Wake> {
    if let Poll::Ready(reason) = outbox.shared().poll_closing(cx) {
        return Poll::Ready(Wake::Closing(reason));
    }
    if shutdown.poll(cx).is_ready() {
        return Poll::Ready(Wake::Shutdown);
    }
    if timer.poll(cx).is_ready() {
        return Poll::Ready(Wake::Timer);
    }
    if let Poll::Ready(control) = controls.poll_next(cx) {
        return Poll::Ready(Wake::Control(control));
    }
    if let Poll::Ready(drained) = outbox.poll_drain_when_blocked(cx) {
        return Poll::Ready(Wake::Drained(drained));
    }
    poll_read_some(cx, outbox, frames).map(Wake::Read)
}

/// Reads once into a stack buffer and hands the bytes to `frames`.
fn poll_read_some(
    cx: &mut Context<'_>,
    outbox: &Outbox,
    frames: &mut FrameReader,
) -> Poll<io::Result<usize>> {
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
}

/// Handles every complete message read so far; a reason to close ends it.
async fn handle_messages(
    frames: &mut FrameReader,
    handler: &mut Handler,
    outbox: &Outbox,
) -> Option<Ending> {
    loop {
        match frames.next_message() {
            Ok(None) => return None,
            // Boxed: the handler's state (store queries and all) then costs memory only
            // while a frame is being handled, not for every idle connection.
            Ok(Some(Incoming::Text(text))) => Box::pin(handler.handle(&text)).await,
            Ok(Some(Incoming::Ping(payload))) => {
                // Control frames count against the rate limit like any other: a ping
                // flood gets no pongs.
                if handler.allow_control_frame() {
                    let _ = outbox.push(frame::pong(&payload));
                }
            }
            Ok(Some(Incoming::Pong(_))) => {
                handler.allow_control_frame();
            }
            Ok(Some(Incoming::Binary(_))) => return Some(CloseReason::Binary.into()),
            Ok(Some(Incoming::Close(peer))) => {
                // A valid close is answered with the same code (RFC 6455 §5.5.1).
                let code = peer.map_or(CloseCode::NORMAL, |close| close.code);
                return Some(Ending {
                    reason: CloseReason::PeerClosed,
                    code: Some((code, "")),
                });
            }
            Err(err) => {
                let reason = match err {
                    FrameError::TooBig => CloseReason::TooBig,
                    FrameError::NotUtf8 => CloseReason::NotUtf8,
                    FrameError::Protocol(violation) => {
                        tracing::debug!(?violation, "framing error");
                        CloseReason::Protocol
                    }
                };
                // The reason's own close frame carries the error's code.
                debug_assert_eq!(
                    reason.close_frame().map(|(code, _)| code),
                    Some(err.close_code())
                );
                return Some(reason.into());
            }
        }
    }
}

/// The connection's timers, driven by paused tokio time over an in-memory socket: no
/// test here waits for real time to pass.
#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Config, Server};
    use chat_protocol::User;
    use tokio::io::{AsyncReadExt, AsyncWriteExt, DuplexStream};

    async fn app(tweak: impl FnOnce(&mut Config)) -> (Server, Arc<AppState>) {
        let mut config = Config::defaults();
        let file = std::env::temp_dir().join(format!(
            "chat-unit-{}-{}.db",
            std::process::id(),
            ulid::Ulid::new()
        ));
        config.database_url = format!("sqlite://{}", file.display());
        tweak(&mut config);
        let server = Server::build(config).await.expect("server");
        let state = server.state();
        (server, state)
    }

    fn identity() -> Identity {
        Identity {
            user: User {
                id: "u_test".into(),
                name: "Test".into(),
            },
            session: "s".into(),
            stored: false,
        }
    }

    /// Paused time still rounds timers to the millisecond.
    fn assert_near(got: Duration, expected: Duration) {
        assert!(
            got >= expected && got <= expected + Duration::from_millis(5),
            "{got:?} instead of {expected:?}"
        );
    }

    /// Reads one server frame: opcode and payload.
    async fn read_frame(peer: &mut DuplexStream) -> (u8, Vec<u8>) {
        let mut head = [0u8; 2];
        peer.read_exact(&mut head).await.expect("frame head");
        let len = match head[1] & 0x7F {
            126 => usize::from(peer.read_u16().await.expect("length")),
            127 => usize::try_from(peer.read_u64().await.expect("length")).expect("fits"),
            len => usize::from(len),
        };
        let mut payload = vec![0; len];
        peer.read_exact(&mut payload).await.expect("payload");
        (head[0] & 0x0F, payload)
    }

    /// A masked client frame.
    fn client_frame(first: u8, payload: &[u8]) -> Vec<u8> {
        let mask = [1, 2, 3, 4];
        let mut out = vec![first, 0x80 | payload.len() as u8];
        out.extend_from_slice(&mask);
        out.extend(payload.iter().enumerate().map(|(i, b)| b ^ mask[i % 4]));
        out
    }

    #[tokio::test]
    async fn pings_keep_time_and_a_silent_peer_is_closed_after_the_idle_timeout() {
        let (_server, app) = app(|c| {
            c.ping_interval = Duration::from_secs(25);
            c.idle_timeout = Duration::from_secs(60);
        })
        .await;
        tokio::time::pause();
        let (ours, mut peer) = tokio::io::duplex(64 * 1024);
        let start = Start {
            app,
            identity: identity(),
            lists: WelcomeLists::default(),
        };
        let task = tokio::spawn(run(Box::pin(ours), Box::new(start)));
        let start = Instant::now();
        assert_eq!(read_frame(&mut peer).await.0, 0x1, "welcome");
        // Answering pings keeps the connection alive far past the idle timeout.
        for round in 1..=5u32 {
            let (opcode, _) = read_frame(&mut peer).await;
            assert_eq!(opcode, 0x9, "a ping");
            assert_near(start.elapsed(), Duration::from_secs(25) * round);
            peer.write_all(&client_frame(0x8A, b""))
                .await
                .expect("pong");
        }
        // Then silence: pings go on, and the close comes 60 s after the last pong.
        let silent_from = Instant::now();
        let (opcode, payload) = loop {
            match read_frame(&mut peer).await {
                (0x9, _) => {}
                other => break other,
            }
        };
        assert_eq!(opcode, 0x8, "a close");
        assert_eq!(&payload[..2], &1001u16.to_be_bytes()[..]);
        assert_near(silent_from.elapsed(), Duration::from_secs(60));
        drop(peer);
        task.await.expect("connection task");
    }

    #[tokio::test]
    async fn a_slow_consumer_reading_20_s_late_gets_whole_frames_then_1013() {
        let (_server, app) = app(|_| {}).await;
        tokio::time::pause();
        let (ours, mut peer) = tokio::io::duplex(256);
        let outbox = Outbox::new(Box::pin(ours), 4096);
        let frame = crate::outgoing::encode(&ServerFrame::Pong);
        // Fill the socket and the queue until the outbox gives up on the peer.
        let mut pushed = 0;
        while outbox.push(frame.clone()).is_ok() {
            pushed += 1;
        }
        assert_eq!(outbox.shared().reason(), Some(CloseReason::SlowConsumer));
        let closing = outbox.clone();
        let grace = app.config.close_grace;
        let task = tokio::spawn(async move {
            let close = frame::close(CloseCode::TRY_AGAIN_LATER, "too slow to keep up");
            close_gracefully(&closing, CloseReason::SlowConsumer, Some(close), grace).await;
        });
        // Only the closing task holds the socket now: when it gives up, the peer sees EOF.
        drop(outbox);
        tokio::time::sleep(Duration::from_secs(20)).await;
        let mut whole = 0;
        loop {
            let (opcode, payload) = read_frame(&mut peer).await;
            if opcode == 0x8 {
                assert_eq!(&payload[..2], &1013u16.to_be_bytes()[..]);
                break;
            }
            assert_eq!(payload, br#"{"type":"pong"}"#, "whole frames only");
            whole += 1;
        }
        assert!(
            whole > 0 && whole < pushed,
            "{whole} of {pushed} frames, then the close"
        );
        drop(peer);
        task.await.expect("closing task");
    }
}
