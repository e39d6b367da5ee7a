//! Entry point of the browser app (built by trunk).

/// Talc instead of the default dlmalloc: the app's download is budgeted, and Talc is
/// both smaller and faster in WebAssembly.
#[cfg(all(not(target_feature = "atomics"), target_family = "wasm"))]
#[global_allocator]
static ALLOCATOR: talc::wasm::WasmDynamicTalc = talc::wasm::new_wasm_dynamic_allocator();

fn main() {
    // Readable panic messages in the console while developing (`trunk serve` builds debug);
    // release builds leave the hook and its formatting code out to stay small.
    #[cfg(debug_assertions)]
    console_error_panic_hook::set_once();
    leptos::mount::mount_to_body(frontend::app::App);
}
