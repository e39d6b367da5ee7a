//! The chat wire protocol, version 1. The complete reference (frames, errors, close
//! codes, limits, and the choices the contract leaves open) is `docs/protocol.md` at the
//! root of the repository, next to this crate's `crates/` folder.
//!
//! This crate is the one Rust implementation of the contract between the server, the
//! browser client and third-party tools. It holds only data types and pure validation, so
//! it builds for the server, for `wasm32-unknown-unknown` and for any tool without
//! pulling in an async runtime or a web stack.

mod client;
mod compact;
mod error;
mod invisible;
mod model;
mod server;
mod server_decode;
pub mod validate;

pub use client::{ClientFrame, FrameDecodeError, decode_client_frame};
pub use compact::{JsonView, frame_from_json, member_page_from_json, rooms_from_json};
pub use error::ErrorCode;
pub use model::{Message, PrivateRoom, RoomKind, RoomSummary, SystemEvent, User};
pub use server::ServerFrame;
pub use server_decode::decode_server_frame;

/// Largest text frame a peer may send, in bytes; bigger frames close the socket with 1009.
pub const MAX_FRAME_BYTES: usize = 64 * 1024;
/// Messages `join` returns when it has no `since`, and the default `history` page size.
pub const DEFAULT_HISTORY: usize = 50;
/// Largest `limit` a `history` request may ask for.
pub const MAX_HISTORY_LIMIT: u32 = 200;
/// Most users a `joined.members`, a `presence` list or a page of
/// `GET /api/rooms/{room}/members` holds.
pub const MAX_LISTED_MEMBERS: usize = 100;
/// Most messages a `join` with `since` replays before it gives up on full recovery.
pub const MAX_RECOVERY: usize = 1000;
