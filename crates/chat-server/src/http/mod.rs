//! Plain HTTP: the REST routes, health, and the browser app's files.

pub mod app;
#[cfg(feature = "embed-app")]
mod embedded;
mod health;
mod me;
mod members;
mod messages;
mod metrics;
mod reports;
mod rooms;
mod telegram_webhook;

pub use health::healthz;
pub use me::me;
pub use members::room_members;
pub use messages::room_messages;
pub use metrics::metrics;
pub use reports::admin_reports;
pub use rooms::list_rooms;
pub use telegram_webhook::telegram_webhook;
