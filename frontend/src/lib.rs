//! The chat browser app. `model` is the pure client state (tested natively); `socket`
//! and `storage` talk to the browser; `components` draw it.

pub mod app;
pub mod components;
pub mod model;
pub mod socket;
pub mod storage;
pub mod wire;
