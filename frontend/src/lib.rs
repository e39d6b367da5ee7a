//! The chat browser app. `model` is the pure client state (tested natively); the rest
//! talks to the browser.

pub mod model;
