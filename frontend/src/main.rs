//! Entry point of the browser app (built by trunk).

fn main() {
    console_error_panic_hook::set_once();
    leptos::mount::mount_to_body(frontend::app::App);
}
