//! Frames to and from JSON text with the browser's own `JSON.parse`, read through
//! `chat_protocol`'s compact codec: no JSON parser and no serde code compiled into the
//! app, which keeps a sixth of its download off the wire. The codec's tests hold it to
//! the serde shapes the server writes.

use chat_protocol::{ClientFrame, JsonView, RoomSummary, ServerFrame, User};
use wasm_bindgen::{JsCast, JsValue};

/// A value `JSON.parse` made.
struct Js(JsValue);

impl JsonView for Js {
    fn field(&self, key: &str) -> Option<Self> {
        if !self.0.is_object() {
            return None;
        }
        let value = js_sys::Reflect::get(&self.0, &JsValue::from_str(key)).ok()?;
        (!value.is_undefined()).then_some(Js(value))
    }

    fn string(&self) -> Option<String> {
        self.0.as_string()
    }

    fn number(&self) -> Option<f64> {
        self.0.as_f64()
    }

    fn boolean(&self) -> Option<bool> {
        self.0.as_bool()
    }

    fn items(&self) -> Option<Vec<Self>> {
        let array = self.0.dyn_ref::<js_sys::Array>()?;
        Some(array.iter().map(Js).collect())
    }

    fn is_null(&self) -> bool {
        self.0.is_null()
    }
}

fn parse(text: &str) -> Option<Js> {
    js_sys::JSON::parse(text).ok().map(Js)
}

/// Decodes one server text frame; `None` for anything that is not a valid frame.
pub fn decode(text: &str) -> Option<ServerFrame> {
    chat_protocol::frame_from_json(&parse(text)?)
}

/// The JSON text of a client frame.
pub fn encode(frame: &ClientFrame) -> String {
    frame.to_json()
}

/// The public rooms, from `GET /api/rooms`.
pub async fn public_rooms() -> Option<Vec<RoomSummary>> {
    chat_protocol::rooms_from_json(&get("/api/rooms").await?)
}

/// A page of a big room's online members after the user id `after`, from
/// `GET /api/rooms/{room}/members`: the users, and whether more follow.
pub async fn member_page(room: &str, after: &str) -> Option<(Vec<User>, bool)> {
    let encode = |s: &str| String::from(js_sys::encode_uri_component(s));
    let url = format!(
        "/api/rooms/{}/members?after={}",
        encode(room),
        encode(after)
    );
    let (users, _online, more) = chat_protocol::member_page_from_json(&get(&url).await?)?;
    Some((users, more))
}

/// The JSON answer of a GET to this server; `None` for anything but a 2xx with JSON.
async fn get(url: &str) -> Option<Js> {
    use js_sys::futures::JsFuture;
    let response = JsFuture::from(web_sys::window()?.fetch_with_str(url))
        .await
        .ok()?
        .dyn_into::<web_sys::Response>()
        .ok()?;
    if !response.ok() {
        return None;
    }
    let text = JsFuture::from(response.text().ok()?).await.ok()?;
    parse(&text.as_string()?)
}
