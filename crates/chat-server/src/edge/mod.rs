//! The HTTP edge: accepting TCP connections and serving HTTP/1.1 on them, hardened
//! against clients that never finish a request.
//!
//! Why not `axum::serve`: it sets no deadline for the request head, so a socket that
//! trickles its headers (slowloris) or sends nothing holds a file descriptor forever,
//! and on `EMFILE` nothing frees one. Here every connection must complete its first
//! request head within `request_head_timeout` of its accept (later keep-alive requests
//! get the same deadline from hyper), connections waiting for that are capped (see
//! [`pending`]), and running out of descriptors evicts the oldest waiting one instead of
//! spinning on `accept`.

mod pending;

pub use pending::{Pending, PendingConnections};

use crate::client_addr::PeerAddr;
use axum::Router;
use axum::body::Body;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::{TokioIo, TokioTimer};
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::{TcpListener, TcpStream};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tower::ServiceExt;

/// How long accept pauses when the process is out of file descriptors, so the loop
/// waits for one to be freed rather than spinning.
const OUT_OF_FILES_PAUSE: Duration = Duration::from_millis(20);

/// The edge's limits.
#[derive(Debug, Clone, Copy)]
pub struct EdgeLimits {
    pub request_head_timeout: Duration,
    pub max_pending_connections: usize,
}

/// Serves `router` on `listener` until `shutdown` is cancelled; then stops accepting,
/// lets requests in progress finish (within `grace`), and returns. Upgraded WebSocket
/// connections are not waited for here: they belong to their own tasks.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    limits: EdgeLimits,
    shutdown: CancellationToken,
    grace: Duration,
) {
    let pending = PendingConnections::new(limits.max_pending_connections);
    let http_connections = TaskTracker::new();
    let mut out_of_files_logged = false;
    loop {
        let accepted = tokio::select! {
            () = shutdown.cancelled() => break,
            accepted = listener.accept() => accepted,
        };
        match accepted {
            Ok((tcp, peer)) => {
                out_of_files_logged = false;
                let waiting = pending.admit();
                let connection =
                    serve_connection(tcp, peer, router.clone(), limits, waiting, shutdown.clone());
                http_connections.spawn(connection);
            }
            Err(err) if is_out_of_files(&err) => {
                if !out_of_files_logged {
                    tracing::warn!(error = %err, "out of file descriptors: dropping the oldest unfinished connection");
                    out_of_files_logged = true;
                }
                pending.evict_oldest();
                tokio::select! {
                    () = shutdown.cancelled() => break,
                    () = tokio::time::sleep(OUT_OF_FILES_PAUSE) => {}
                }
            }
            // The peer gave up between SYN and accept, and the like: nothing to do.
            Err(err) => tracing::debug!(error = %err, "accept failed"),
        }
    }
    http_connections.close();
    if tokio::time::timeout(grace, http_connections.wait())
        .await
        .is_err()
    {
        tracing::warn!("some HTTP requests did not finish within {grace:?}");
    }
}

/// One connection: HTTP/1.1 with upgrades, dropped if its first request head does not
/// arrive within the deadline or the registry evicts it first.
async fn serve_connection(
    tcp: TcpStream,
    peer: SocketAddr,
    router: Router,
    limits: EdgeLimits,
    waiting: Pending,
    shutdown: CancellationToken,
) {
    // Frames are small and latency matters: never let Nagle hold one back waiting for an
    // ACK (with delayed ACKs that is up to 40 ms per message).
    if let Err(err) = tcp.set_nodelay(true) {
        tracing::warn!(error = %err, "cannot set TCP_NODELAY");
    }
    let waiting = Arc::new(waiting);
    let service = {
        let waiting = waiting.clone();
        service_fn(move |mut request: hyper::Request<Incoming>| {
            waiting.complete();
            request.extensions_mut().insert(PeerAddr(peer));
            router.clone().oneshot(request.map(Body::new))
        })
    };
    let connection = http1::Builder::new()
        .timer(TokioTimer::new())
        .header_read_timeout(limits.request_head_timeout)
        .serve_connection(TokioIo::new(tcp), service)
        .with_upgrades();
    let deadline = tokio::time::sleep(limits.request_head_timeout);
    tokio::pin!(connection, deadline);
    let mut first_request_seen = false;
    let mut shutting_down = false;
    loop {
        tokio::select! {
            () = shutdown.cancelled(), if !shutting_down => {
                // Finish the request in progress, take no new one.
                shutting_down = true;
                connection.as_mut().graceful_shutdown();
            }
            result = &mut connection => {
                if let Err(err) = result {
                    tracing::debug!(error = %err, "HTTP connection ended with an error");
                }
                return;
            }
            () = waiting.evicted().cancelled(), if !first_request_seen => {
                tracing::debug!("unfinished connection evicted");
                return;
            }
            () = &mut deadline, if !first_request_seen => {
                if !waiting.is_waiting() {
                    first_request_seen = true;
                    continue;
                }
                tracing::debug!("no complete request head in time: closing");
                return;
            }
        }
    }
}

fn is_out_of_files(err: &io::Error) -> bool {
    // EMFILE (the process's limit) and ENFILE (the system's), as raw errno values:
    // std has no ErrorKind for them.
    matches!(err.raw_os_error(), Some(24 | 23))
}
