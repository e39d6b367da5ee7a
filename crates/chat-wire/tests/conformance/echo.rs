//! An echo server built on the framing layer alone: the peer that conformance cases (ours,
//! or Autobahn|Testsuite's fuzzingclient run by hand) talk to. Text and binary messages
//! come back as they were sent, pings get pongs, and closes and errors are answered the
//! way the chat server answers them, with the same reader and the same close rules.

use chat_wire::CloseCode;
use chat_wire::{FrameReader, Incoming, frame, handshake};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// Largest request head read before giving up on a client.
const MAX_HEAD: usize = 8192;
/// How long the server waits for the peer to hang up after the closing handshake.
const LINGER: Duration = Duration::from_secs(5);

/// Accepts connections forever, each echoed by a task of its own.
pub async fn serve(listener: TcpListener, max_message: usize) {
    while let Ok((tcp, _)) = listener.accept().await {
        tokio::spawn(async move {
            let _ = tcp.set_nodelay(true);
            let _ = connection(tcp, max_message).await;
        });
    }
}

async fn connection(mut tcp: TcpStream, max_message: usize) -> std::io::Result<()> {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    let head_len = loop {
        let n = tcp.read(&mut chunk).await?;
        if n == 0 {
            return Ok(());
        }
        buf.extend_from_slice(&chunk[..n]);
        if let Some(at) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break at + 4;
        }
        if buf.len() > MAX_HEAD {
            return Ok(());
        }
    };
    match upgrade(&buf[..head_len]) {
        Ok(accept) => {
            let response = format!(
                "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\
                 Connection: Upgrade\r\nSec-WebSocket-Accept: {accept}\r\n\r\n"
            );
            tcp.write_all(response.as_bytes()).await?;
        }
        Err(refusal) => {
            let status = refusal.map_or(400, |r| r.status().as_u16());
            let response = format!("HTTP/1.1 {status} Refused\r\nContent-Length: 0\r\n\r\n");
            tcp.write_all(response.as_bytes()).await?;
            return Ok(());
        }
    }
    let mut reader = FrameReader::new(max_message);
    reader.extend(&buf[head_len..]);
    'echo: loop {
        loop {
            match reader.next_message() {
                Ok(None) => break,
                Ok(Some(Incoming::Text(text))) => {
                    tcp.write_all(&frame::text(text.as_bytes())).await?
                }
                Ok(Some(Incoming::Binary(data))) => tcp.write_all(&frame::binary(&data)).await?,
                Ok(Some(Incoming::Ping(data))) => tcp.write_all(&frame::pong(&data)).await?,
                Ok(Some(Incoming::Pong(_))) => {}
                Ok(Some(Incoming::Close(peer))) => {
                    let code = peer.map_or(CloseCode::NORMAL, |close| close.code);
                    tcp.write_all(&frame::close(code, "")).await?;
                    break 'echo;
                }
                Err(err) => {
                    tcp.write_all(&frame::close(err.close_code(), err.reason()))
                        .await?;
                    break 'echo;
                }
            }
        }
        let n = tcp.read(&mut chunk).await?;
        if n == 0 {
            return Ok(());
        }
        reader.extend(&chunk[..n]);
    }
    // The closing handshake: our close is out; wait for the peer to hang up.
    tcp.shutdown().await?;
    let _ = tokio::time::timeout(LINGER, async {
        while tcp.read(&mut chunk).await.is_ok_and(|n| n > 0) {}
    })
    .await;
    Ok(())
}

/// The handshake's `Sec-WebSocket-Accept`, or why not (`None`: not even HTTP).
fn upgrade(head: &[u8]) -> Result<String, Option<handshake::Refusal>> {
    let mut headers = [httparse::EMPTY_HEADER; 32];
    let mut request = httparse::Request::new(&mut headers);
    match request.parse(head) {
        Ok(httparse::Status::Complete(_)) => {}
        _ => return Err(None),
    }
    let method =
        http::Method::from_bytes(request.method.unwrap_or("").as_bytes()).map_err(|_| None)?;
    let version = match request.version {
        Some(1) => http::Version::HTTP_11,
        _ => http::Version::HTTP_10,
    };
    let mut map = http::HeaderMap::new();
    for header in request.headers.iter() {
        let name = http::HeaderName::from_bytes(header.name.as_bytes()).map_err(|_| None)?;
        let value = http::HeaderValue::from_bytes(header.value).map_err(|_| None)?;
        map.append(name, value);
    }
    handshake::accept(&method, version, &map).map_err(Some)
}
