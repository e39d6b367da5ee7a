//! The browser app embedded in the binary (feature `embed-app`, on for these tests) is
//! served like a CDN would: right content types, precompressed copies chosen by
//! `Accept-Encoding`, a year's caching for hashed names and none for `index.html`, 304
//! on a matching `ETag`; and `--static-dir` still overrides it.
#![allow(clippy::unwrap_used)]

mod common;

use common::{TempDir, TestServer, fetch, workspace_dir};
use flate2::read::GzDecoder;
use std::io::Read;

/// The build's file of that extension (trunk names them `frontend-<hash>…`).
fn built(extension: &str) -> String {
    std::fs::read_dir(workspace_dir().join("dist"))
        .unwrap()
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .find(|name| name.ends_with(extension))
        .unwrap_or_else(|| panic!("no {extension} in dist/"))
}

fn dist_file(name: &str) -> Vec<u8> {
    std::fs::read(workspace_dir().join("dist").join(name)).unwrap()
}

#[tokio::test]
async fn the_embedded_app_is_served_with_types_encodings_and_caching() {
    let server = TestServer::start_with(|config| config.static_dir = None).await;

    let page = fetch(server.addr, "/", &[]).await;
    assert_eq!(page.status, 200);
    assert_eq!(page.header("content-type"), "text/html; charset=utf-8");
    assert_eq!(page.header("cache-control"), "no-cache");
    assert_eq!(page.body, dist_file("index.html"), "the page as built");

    let wasm = built("_bg.wasm");
    let plain = fetch(server.addr, &format!("/{wasm}"), &[]).await;
    assert_eq!(plain.status, 200);
    assert_eq!(plain.header("content-type"), "application/wasm");
    assert_eq!(
        plain.header("cache-control"),
        "public, max-age=31536000, immutable"
    );
    assert_eq!(plain.header("content-encoding"), "");
    assert_eq!(plain.header("vary"), "accept-encoding");
    assert_eq!(plain.body, dist_file(&wasm));

    let gzip = fetch(
        server.addr,
        &format!("/{wasm}"),
        &[("Accept-Encoding", "gzip")],
    )
    .await;
    assert_eq!(gzip.header("content-encoding"), "gzip");
    assert_eq!(gzip.header("content-type"), "application/wasm");
    let mut unzipped = Vec::new();
    GzDecoder::new(&gzip.body[..])
        .read_to_end(&mut unzipped)
        .unwrap();
    assert_eq!(unzipped, dist_file(&wasm), "gzip is the same file");

    let br = fetch(
        server.addr,
        &format!("/{wasm}"),
        &[("Accept-Encoding", "gzip, deflate, br, zstd")],
    )
    .await;
    assert_eq!(br.header("content-encoding"), "br", "brotli preferred");
    assert!(br.body.len() < gzip.body.len(), "brotli is the smaller");
    assert_ne!(br.header("etag"), gzip.header("etag"));

    let js = built(".js");
    let script = fetch(server.addr, &format!("/{js}"), &[]).await;
    assert_eq!(
        script.header("content-type"),
        "text/javascript; charset=utf-8"
    );

    // Revalidation: the tag of what was sent answers 304 with no body.
    let again = fetch(
        server.addr,
        &format!("/{wasm}"),
        &[
            ("Accept-Encoding", "br"),
            ("If-None-Match", br.header("etag")),
        ],
    )
    .await;
    assert_eq!(again.status, 304);
    assert!(again.body.is_empty());

    // A page of the app gets index.html; a missing asset is 404, not HTML.
    let route = fetch(server.addr, "/rooms/lobby", &[]).await;
    assert_eq!((route.status, route.body), (200, dist_file("index.html")));
    let stale = fetch(server.addr, "/frontend-00000000000000000_bg.wasm", &[]).await;
    assert_eq!(stale.status, 404);
}

#[tokio::test]
async fn static_dir_overrides_the_embedded_app() {
    let dir = TempDir::new("override");
    std::fs::write(dir.path().join("index.html"), "<title>mine</title>").unwrap();
    std::fs::write(dir.path().join("app-0123456789abcdef.js"), "1").unwrap();
    let static_dir = dir.path().to_owned();
    let server = TestServer::start_with(|config| config.static_dir = Some(static_dir)).await;
    let page = fetch(server.addr, "/", &[]).await;
    assert_eq!(page.body, b"<title>mine</title>");
    assert_eq!(page.header("cache-control"), "no-cache");
    let route = fetch(server.addr, "/some/route", &[]).await;
    assert_eq!(route.body, b"<title>mine</title>");
    let asset = fetch(server.addr, "/app-0123456789abcdef.js", &[]).await;
    assert_eq!(
        asset.header("cache-control"),
        "public, max-age=31536000, immutable"
    );
}
