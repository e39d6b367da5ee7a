//! The app's pieces, one per file.

mod composer;
mod name_dialog;
mod private_bar;
mod profile;
mod room_view;
mod sidebar;

pub use composer::Composer;
pub use name_dialog::NameDialog;
pub use private_bar::PrivateBar;
pub use profile::Profile;
pub use room_view::RoomView;
pub use sidebar::{Sidebar, leave_room};
