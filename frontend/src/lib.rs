//! The chat browser app. `model` is the pure client state (tested natively); `socket`
//! and `storage` talk to the browser, `telegram` to the Telegram client around a Mini
//! App (and `native` wires it to the chat); `components` draw it.

pub mod app;
pub mod components;
pub mod model;
pub mod native;
pub mod socket;
pub mod storage;
pub mod telegram;
pub mod wire;
