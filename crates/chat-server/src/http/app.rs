//! The browser app at `/`: from `--static-dir` when it is given, else from the copy
//! embedded in the binary (feature `embed-app`), else from `./dist`.
//!
//! Either way the caching is the same: trunk puts a content hash in every asset's name,
//! so those are cached for a year (`immutable`, a new build has new names), while
//! `index.html`, which names the current assets, is revalidated on every load
//! (`no-cache`). Unknown paths that look like assets are 404 (a page asking for an old
//! build's script must not get HTML back); any other unknown path gets `index.html`.

use axum::Router;
use axum::extract::Request;
use axum::http::{HeaderValue, header};
use axum::middleware::{self, Next};
use axum::response::Response;
use std::path::Path;
use tower_http::services::{ServeDir, ServeFile};

/// Cache policy of content-hashed assets.
pub const CACHE_IMMUTABLE: &str = "public, max-age=31536000, immutable";
/// Cache policy of everything else (`index.html` above all).
pub const CACHE_REVALIDATE: &str = "no-cache";

/// Extensions of the files an app build consists of: a missing one is 404, not the page.
const ASSET_EXTENSIONS: &[&str] = &[
    "js",
    "mjs",
    "wasm",
    "css",
    "map",
    "png",
    "svg",
    "ico",
    "jpg",
    "webp",
    "woff2",
    "json",
    "txt",
    "webmanifest",
];

/// The service for every path no route takes.
pub fn router(static_dir: Option<&Path>) -> Router {
    match static_dir {
        Some(dir) => from_dir(dir),
        None => embedded_or_dist(),
    }
}

#[cfg(feature = "embed-app")]
fn embedded_or_dist() -> Router {
    Router::new().fallback(super::embedded::serve)
}

#[cfg(not(feature = "embed-app"))]
fn embedded_or_dist() -> Router {
    from_dir(Path::new("dist"))
}

/// Files of a directory, with their `.br`/`.gz` copies when present.
fn from_dir(dir: &Path) -> Router {
    let files = ServeDir::new(dir)
        .precompressed_br()
        .precompressed_gzip()
        .fallback(ServeFile::new(dir.join("index.html")));
    Router::new()
        .fallback_service(files)
        .layer(middleware::from_fn(cache_headers))
}

async fn cache_headers(request: Request, next: Next) -> Response {
    let policy = cache_policy(request.uri().path());
    let mut response = next.run(request).await;
    if response.status().is_success() || response.status().as_u16() == 304 {
        response
            .headers_mut()
            .insert(header::CACHE_CONTROL, HeaderValue::from_static(policy));
    }
    response
}

/// How long a browser may keep the file at `path` without asking again.
pub fn cache_policy(path: &str) -> &'static str {
    // wasm-bindgen's snippets carry the hash in their folder: `snippets/frontend-<hash>/`.
    if path.split('/').any(is_content_hashed) {
        CACHE_IMMUTABLE
    } else {
        CACHE_REVALIDATE
    }
}

/// Whether a file or folder name carries a content hash the way trunk writes one:
/// `frontend-1a2b3c4d5e6f7a8b_bg.wasm`, `style-1a2b3c4d5e6f7a8b.css`.
fn is_content_hashed(name: &str) -> bool {
    let stem = name.split('.').next().unwrap_or(name);
    let stem = stem.strip_suffix("_bg").unwrap_or(stem);
    stem.rsplit_once('-')
        .is_some_and(|(_, hash)| hash.len() >= 16 && hash.bytes().all(|b| b.is_ascii_hexdigit()))
}

/// Whether a missing `path` is a missing asset (404) rather than a page of the app.
pub fn is_asset_path(path: &str) -> bool {
    let name = path.rsplit('/').next().unwrap_or(path);
    name.rsplit_once('.')
        .is_some_and(|(_, ext)| ASSET_EXTENSIONS.contains(&ext))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashed_names_are_immutable_and_the_page_is_revalidated() {
        for hashed in [
            "/frontend-3f2a9c1b0d4e5f67_bg.wasm",
            "/frontend-3f2a9c1b0d4e5f67.js",
            "/style-0123456789abcdef.css",
            "/snippets/frontend-0123456789abcdef0123/inline0.js",
        ] {
            assert_eq!(cache_policy(hashed), CACHE_IMMUTABLE, "{hashed}");
        }
        for plain in [
            "/",
            "/index.html",
            "/rooms/lobby",
            "/frontend.js",
            "/my-room",
            "/x-0123.js",
        ] {
            assert_eq!(cache_policy(plain), CACHE_REVALIDATE, "{plain}");
        }
    }

    #[test]
    fn only_asset_extensions_are_assets() {
        assert!(is_asset_path("frontend-0123456789abcdef.js"));
        assert!(is_asset_path("a/b.wasm"));
        assert!(!is_asset_path("rooms/lobby"));
        assert!(!is_asset_path("rooms/v1.2"));
        assert!(!is_asset_path(""));
    }
}
