//! Entry point of the browser app (built by trunk).

fn main() {
    // Readable panic messages in the console while developing (`trunk serve` builds debug);
    // release builds leave the hook and its formatting code out to stay small.
    #[cfg(debug_assertions)]
    console_error_panic_hook::set_once();
    leptos::mount::mount_to_body(frontend::app::App);
}
