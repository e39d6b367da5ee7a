//! Inside Telegram: the launch parameters, and the event bridge to the Telegram client.
//!
//! No script from a CDN: Telegram's own `telegram-web-app.js` is only a wrapper around a
//! documented bridge, spoken here directly by a few lines of JavaScript of our own
//! (shipped with the app by wasm-bindgen). Written in JavaScript because it is glue to
//! browser objects: the same code in Rust cost 6 KB of download through `web-sys`
//! bindings, and in JavaScript it also applies the theme before the first frame paints.
//!
//! Events go out through `window.TelegramWebviewProxy.postEvent` (mobile clients),
//! `window.external.notify` (desktop) or `window.parent.postMessage` (web, where the app
//! is in an iframe); they come in through `window.Telegram.WebView.receiveEvent` (mobile
//! and desktop call it) or as `message` events from the parent frame (web). Theme,
//! viewport and safe-area events become CSS variables right there (every theme
//! parameter `x_y` is `--tg-theme-x-y`; `--tg-viewport-height`,
//! `--tg-viewport-stable-height`, `--tg-safe-area-inset-<side>`,
//! `--tg-content-safe-area-inset-<side>`), which the stylesheet derives its colours and
//! insets from; the rest are handed to the app.

use std::cell::Cell;
use wasm_bindgen::prelude::*;

#[wasm_bindgen(inline_js = r#"
const KEY = "chat.tg";
const css = (name, value) => document.documentElement.style.setProperty(name, value);
const theme = (t) => { for (const k in t || {}) css("--tg-theme-" + k.replace(/_/g, "-"), t[k]); };
const insets = (kind, d) => {
  for (const side of ["top", "bottom", "left", "right"])
    if (d && typeof d[side] == "number") css(`--tg-${kind}-${side}`, d[side] + "px");
};
export function tg_launch() {
  let p = new URLSearchParams(location.hash.slice(1));
  try {
    if (p.get("tgWebAppData")) sessionStorage.setItem(KEY, p.toString());
    else p = new URLSearchParams(sessionStorage.getItem(KEY) || "");
  } catch (e) {}
  const data = p.get("tgWebAppData");
  if (!data) return undefined;
  try { theme(JSON.parse(p.get("tgWebAppThemeParams"))); } catch (e) {}
  return data;
}
export function tg_start() {
  const s = new URLSearchParams(location.search).get("startapp")
    || new URLSearchParams(location.hash.slice(1)).get("tgWebAppStartParam");
  try {
    if (!s || sessionStorage.getItem("chat.start") === s) return undefined;
    sessionStorage.setItem("chat.start", s);
  } catch (e) {}
  return s || undefined;
}
export function tg_post(type, data) {
  const w = window;
  if (w.TelegramWebviewProxy) return w.TelegramWebviewProxy.postEvent(type, data);
  const message = JSON.stringify({ eventType: type, eventData: JSON.parse(data) });
  if (w.external && "notify" in w.external) return w.external.notify(message);
  if (w.parent !== w) w.parent.postMessage(message, "*");
}
export async function tg_refusal(initData) {
  try {
    const r = await fetch("/api/me?tg=" + encodeURIComponent(initData));
    if (r.status == 401) return (await r.text()).trim();
  } catch (e) {}
}
export function tg_listen(other) {
  const receive = (type, d) => {
    if (type == "theme_changed") theme(d && d.theme_params);
    else if (type == "viewport_changed") {
      if (d && d.height) {
        css("--tg-viewport-height", d.height + "px");
        if (d.is_state_stable) css("--tg-viewport-stable-height", d.height + "px");
      }
    } else if (type == "safe_area_changed") insets("safe-area-inset", d);
    else if (type == "content_safe_area_changed") insets("content-safe-area-inset", d);
    else other(type);
  };
  window.Telegram = { WebView: { receiveEvent: receive } };
  addEventListener("message", (e) => {
    try {
      const m = JSON.parse(e.data);
      if (m.eventType) receive(m.eventType, m.eventData);
    } catch (x) {}
  });
}
"#)]
extern "C" {
    /// The initData of the launch parameters (from the URL fragment, kept in session
    /// storage for reloads), after applying their theme; `None` outside Telegram.
    fn tg_launch() -> Option<String>;
    /// The start parameter the app was opened with (`?startapp=` of the bot's buttons, or
    /// Telegram's `tgWebAppStartParam`), once per tab: a reload does not apply it again.
    fn tg_start() -> Option<String>;
    /// Resolves to the server's reason for refusing this initData (`GET /api/me`), or
    /// to `undefined` when it accepts it or cannot be asked.
    fn tg_refusal(init_data: &str) -> js_sys::Promise;
    /// Posts an event with its data (a JSON object's text).
    fn tg_post(event: &str, data: &str);
    /// Listens to the client's events for the life of the page; those that are not
    /// theme, viewport or safe-area changes reach `other` by type.
    fn tg_listen(other: &Closure<dyn Fn(String)>);
}

thread_local! {
    static INSIDE: Cell<bool> = const { Cell::new(false) };
}

/// Whether the page runs as a Telegram Mini App (known once [`launch`] ran).
pub fn inside() -> bool {
    INSIDE.with(Cell::get)
}

/// The initData to sign in with, with the theme applied; `None` outside Telegram.
pub fn launch() -> Option<String> {
    let init_data = tg_launch().filter(|data| !data.is_empty())?;
    INSIDE.with(|inside| inside.set(true));
    Some(init_data)
}

/// Why the server refuses this initData, if it does: a browser cannot read the answer
/// to a refused WebSocket upgrade, so the app asks when its first connection fails.
pub async fn refusal(init_data: &str) -> Option<String> {
    js_sys::futures::JsFuture::from(tg_refusal(init_data))
        .await
        .ok()?
        .as_string()
}

/// Where the app was asked to open: a room, `stranger`, or nothing.
pub fn start_param() -> Option<String> {
    tg_start().filter(|start| !start.is_empty())
}

/// Sends an event to the Telegram client; `data` is a JSON object's text.
pub fn post(event: &str, data: &str) {
    tg_post(event, data);
}

/// Hands every event that is not about theme, viewport or safe area (the back and main
/// buttons) to `on_event`, for the life of the page.
pub fn listen(on_event: impl Fn(&str) + 'static) {
    let other = Closure::<dyn Fn(String)>::new(move |kind: String| on_event(&kind));
    tg_listen(&other);
    other.forget();
}

/// Haptic feedback when inside Telegram: `success` (a match) or `error` (a failed send).
pub fn haptic(kind: &str) {
    if inside() {
        post(
            "web_app_trigger_haptic_feedback",
            &format!(r#"{{"type":"notification","notification_type":"{kind}"}}"#),
        );
    }
}
