//! The chat browser app. `model` is the pure client state, `timeline` and `rich` how a
//! room and a message read (all tested natively); `socket`,
//! `storage` and `browser` talk to the browser, `telegram` to the Telegram client around a Mini
//! App (and `native` wires it to the chat); `components` draw it.

pub mod app;
pub mod attention;
pub mod browser;
pub mod components;
pub mod model;
pub mod native;
pub mod rich;
pub mod socket;
pub mod storage;
pub mod telegram;
pub mod timeline;
pub mod wire;
