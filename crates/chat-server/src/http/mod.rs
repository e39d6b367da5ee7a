//! Plain HTTP: the REST routes, health, and the browser app's static files.

mod health;
mod me;
mod messages;
mod metrics;
mod reports;
mod rooms;
mod telegram_webhook;

pub use health::healthz;
pub use me::me;
pub use messages::room_messages;
pub use metrics::metrics;
pub use reports::admin_reports;
pub use rooms::list_rooms;
pub use telegram_webhook::telegram_webhook;

use std::path::Path;
use tower_http::services::{ServeDir, ServeFile};

/// Serves the built browser app; unknown paths get `index.html` so client-side routes work.
pub fn static_files(dir: &Path) -> ServeDir<ServeFile> {
    ServeDir::new(dir).fallback(ServeFile::new(dir.join("index.html")))
}
