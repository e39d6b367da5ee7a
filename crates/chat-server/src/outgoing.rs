//! Server frames as wire bytes: JSON in a WebSocket text frame, built once for all of a
//! fan-out's recipients. Below both the hub and the connection, which share it.

use bytes::Bytes;
use chat_protocol::ServerFrame;

/// Serializes a frame into a complete WebSocket text frame. Serializing our own types
/// cannot fail (no maps with non-string keys, no failing `Serialize` impls).
pub fn encode(frame: &ServerFrame) -> Bytes {
    chat_wire::frame::text(&serde_json::to_vec(frame).unwrap_or_default())
}
