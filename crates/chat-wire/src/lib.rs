//! WebSocket wire format (RFC 6455) for the chat server: the opening handshake's checks,
//! frames in ([`FrameReader`]) and out ([`frame`]), and close codes ([`CloseCode`]).
//!
//! Why a crate of its own: it is the bottom layer. It does no I/O and knows nothing of
//! the chat, so it can be tested case by case against the RFC, fuzzed in isolation, and
//! driven by an echo server for conformance tests, while the server writes the bytes it
//! builds straight into its sockets.

pub mod close;
pub mod frame;
pub mod handshake;
mod reader;

pub use close::{CloseCode, CloseFrame};
pub use reader::{FrameError, FrameReader, Incoming, Violation};
