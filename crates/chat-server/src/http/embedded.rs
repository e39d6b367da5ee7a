//! The browser app embedded in the binary (feature `embed-app`): `build.rs` copies the
//! build into `$OUT_DIR/app` with `.br` and `.gz` companions, `rust-embed` puts them in
//! the executable, and this serves them with content types, the best encoding the
//! browser accepts, an `ETag`, and the cache policy of [`super::app`].

use super::app::{cache_policy, is_asset_path};
use axum::body::Body;
use axum::extract::Request;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use rust_embed::{Embed, EmbeddedFile};

#[derive(Embed)]
#[folder = "$OUT_DIR/app"]
struct Bundle;

/// The encodings served, best first, with the suffix of their copies.
const ENCODINGS: &[(&str, &str)] = &[("br", ".br"), ("gzip", ".gz")];

/// `GET`/`HEAD` of any path no route takes.
pub async fn serve(request: Request) -> Response {
    if !matches!(*request.method(), Method::GET | Method::HEAD) {
        return (
            StatusCode::METHOD_NOT_ALLOWED,
            [(header::ALLOW, "GET, HEAD")],
        )
            .into_response();
    }
    let path = request.uri().path().trim_start_matches('/');
    let name = match path {
        "" => "index.html",
        path if Bundle::get(path).is_some() => path,
        path if is_asset_path(path) => return StatusCode::NOT_FOUND.into_response(),
        _ => "index.html",
    };
    let Some(original) = Bundle::get(name) else {
        // `build.rs` refuses to build without an index.html; a path that vanished
        // between the two looks-ups cannot happen, but is not worth a panic.
        return StatusCode::NOT_FOUND.into_response();
    };
    let mut compressed = false;
    let mut encoding = None;
    let mut file = None;
    for (coding, suffix) in ENCODINGS {
        if let Some(copy) = Bundle::get(&format!("{name}{suffix}")) {
            compressed = true;
            if file.is_none() && accepts(request.headers(), coding) {
                encoding = Some(*coding);
                file = Some(copy);
            }
        }
    }
    let file = file.unwrap_or(original.clone());
    respond(
        request.headers(),
        name,
        &original,
        file,
        encoding,
        compressed,
    )
}

fn respond(
    request: &HeaderMap,
    name: &str,
    original: &EmbeddedFile,
    file: EmbeddedFile,
    encoding: Option<&'static str>,
    compressed: bool,
) -> Response {
    let etag = etag(&file, encoding);
    let mut response = if request
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|tags| tags.split(',').any(|t| t.trim() == etag || t.trim() == "*"))
    {
        StatusCode::NOT_MODIFIED.into_response()
    } else {
        let mut response = Body::from(file.data).into_response();
        let headers = response.headers_mut();
        if let Ok(value) = HeaderValue::from_str(&content_type(original)) {
            headers.insert(header::CONTENT_TYPE, value);
        }
        if let Some(encoding) = encoding {
            headers.insert(header::CONTENT_ENCODING, HeaderValue::from_static(encoding));
        }
        response
    };
    let headers = response.headers_mut();
    if let Ok(value) = HeaderValue::from_str(&etag) {
        headers.insert(header::ETAG, value);
    }
    headers.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static(cache_policy(name)),
    );
    if compressed {
        headers.insert(header::VARY, HeaderValue::from_static("accept-encoding"));
    }
    response
}

/// A strong tag of the bytes sent (each encoding is its own representation).
fn etag(file: &EmbeddedFile, encoding: Option<&str>) -> String {
    let hash = file.metadata.sha256_hash();
    let hex: String = hash[..12].iter().map(|b| format!("{b:02x}")).collect();
    match encoding {
        Some(encoding) => format!("\"{hex}-{encoding}\""),
        None => format!("\"{hex}\""),
    }
}

/// The file's type; text is UTF-8 (trunk and wasm-bindgen write nothing else).
fn content_type(file: &EmbeddedFile) -> String {
    let mime = file.metadata.mimetype();
    if mime.starts_with("text/") || mime == "application/javascript" {
        format!("{mime}; charset=utf-8")
    } else {
        mime.to_owned()
    }
}

/// Whether `Accept-Encoding` allows `coding` (named with a q-value above 0).
fn accepts(headers: &HeaderMap, coding: &str) -> bool {
    headers
        .get_all(header::ACCEPT_ENCODING)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|item| {
            let mut parts = item.split(';');
            let name = parts.next().unwrap_or("").trim();
            let refused = parts.any(|p| {
                p.trim()
                    .strip_prefix("q=")
                    .and_then(|q| q.trim().parse::<f32>().ok())
                    .is_some_and(|q| q <= 0.0)
            });
            name.eq_ignore_ascii_case(coding) && !refused
        })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn accept(value: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(
            header::ACCEPT_ENCODING,
            HeaderValue::from_str(value).unwrap(),
        );
        headers
    }

    #[test]
    fn accept_encoding_is_read_with_its_q_values() {
        assert!(accepts(&accept("gzip, deflate, br, zstd"), "br"));
        assert!(accepts(&accept("gzip;q=1.0, br;q=0.5"), "br"));
        assert!(!accepts(&accept("gzip, br;q=0"), "br"));
        assert!(accepts(&accept("gzip, br;q=0"), "gzip"));
        assert!(!accepts(&accept("identity"), "gzip"));
        assert!(!accepts(&HeaderMap::new(), "gzip"));
    }
}
