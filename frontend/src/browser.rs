//! The page's own services: the reader's clock and locale, the document title, desktop
//! notifications, focus and the open panels.
//!
//! A few lines of JavaScript of our own (shipped by wasm-bindgen, as in `telegram`):
//! glue to browser objects costs less download there than through `web-sys` bindings,
//! and the app's download is budgeted.

use crate::timeline::{Calendar, local_day};
use wasm_bindgen::prelude::*;

#[wasm_bindgen(inline_js = r#"
const d = (t) => new Date(t);
// One formatter for every row: the timeline is drawn again on every change.
const clock = new Intl.DateTimeFormat([], { hour: "2-digit", minute: "2-digit" });
export function page_time(t) { return clock.format(t); }
export function page_date(t) {
  const x = d(t);
  return x.toLocaleDateString([], { day: "numeric", month: "long",
    year: x.getFullYear() == new Date().getFullYear() ? undefined : "numeric" });
}
export function page_offset(t) { return -d(t).getTimezoneOffset(); }
export function page_title(t) { if (document.title != t) document.title = t; }
export function page_hidden() { return document.hidden; }
export function page_on_visibility(f) { document.addEventListener("visibilitychange", () => f(document.hidden)); }
export function page_close_panels() {
  for (const p of document.querySelectorAll("details[open]")) {
    if (p.contains(document.activeElement)) p.querySelector("summary").focus();
    p.open = false;
  }
}
export function page_focus(id) {
  const e = document.getElementById(id), a = document.activeElement;
  if (e && !(a && a.closest("details[open]"))) e.focus();
}
export function notify_state() {
  return typeof Notification == "undefined" ? 0 : Notification.permission == "granted" ? 2 : 1;
}
export function notify_ask() {
  return Notification.requestPermission().then((p) => p == "granted", () => false);
}
export function notify(title, body, tag, onclick) {
  try {
    const n = new Notification(title, { body, tag });
    n.onclick = () => { window.focus(); n.close(); onclick(); };
  } catch (e) {}
}
"#)]
extern "C" {
    fn page_time(ts: f64) -> String;
    fn page_date(ts: f64) -> String;
    fn page_offset(ts: f64) -> f64;
    fn page_title(title: &str);
    fn page_hidden() -> bool;
    fn page_on_visibility(on_change: &JsValue);
    fn page_close_panels();
    fn page_focus(id: &str);
    /// 0: no notifications in this browser; 1: not allowed (yet); 2: allowed.
    fn notify_state() -> u32;
    fn notify_ask() -> js_sys::Promise;
    fn notify(title: &str, body: &str, tag: &str, onclick: &JsValue);
}

/// The reader's calendar: their time zone (daylight saving included, per date) and
/// locale.
pub struct Reader;

impl Calendar for Reader {
    fn day(&self, ts: i64) -> i64 {
        local_day(ts, page_offset(ts as f64) as i64)
    }

    fn today(&self) -> i64 {
        self.day(js_sys::Date::now() as i64)
    }

    fn time(&self, ts: i64) -> String {
        page_time(ts as f64)
    }

    fn date(&self, ts: i64) -> String {
        page_date(ts as f64)
    }
}

/// The tab's title: the unread count first, as chat apps do, so it shows on the tab.
pub fn set_title(unread: u32) {
    page_title(&if unread > 0 {
        format!("({unread}) Chat")
    } else {
        "Chat".to_owned()
    });
}

/// Whether the person is looking at another tab or window.
pub fn hidden() -> bool {
    page_hidden()
}

/// Calls `on_change(hidden)` whenever the page is hidden or shown, for the page's life.
pub fn on_visibility(on_change: impl FnMut(bool) + 'static) {
    let closure = Closure::<dyn FnMut(bool)>::new(on_change);
    page_on_visibility(closure.as_ref());
    closure.forget();
}

/// Closes every open panel (Escape); focus that was inside one goes to its summary.
pub fn close_panels() {
    page_close_panels();
}

/// Moves the keyboard focus to the element with this id, if it is there and the
/// person is not busy in an open panel.
pub fn focus(id: &str) {
    page_focus(id);
}

/// Whether this browser can show desktop notifications at all.
pub fn can_notify() -> bool {
    notify_state() > 0
}

/// Whether the person has allowed them.
pub fn notifications_allowed() -> bool {
    notify_state() == 2
}

/// Asks the browser for permission (it asks the person); whether it was given.
pub async fn ask_to_notify() -> bool {
    js_sys::futures::JsFuture::from(notify_ask())
        .await
        .ok()
        .and_then(|granted| granted.as_bool())
        .unwrap_or(false)
}

/// Shows a desktop notification; a click brings the tab forward and runs `on_click`.
/// Notifications with the same `tag` (a room) replace each other.
pub fn show_notification(title: &str, body: &str, tag: &str, on_click: impl FnOnce() + 'static) {
    notify(title, body, tag, &Closure::once_into_js(on_click));
}
