//! The browser app's download stays within its budget: 150 KB of wasm and JS, gzipped.
//!
//! Phones inside Telegram load the app over mobile networks, so its size is a feature;
//! this test keeps a dependency or a careless generic from quietly growing it. The
//! numbers and where the bytes go are in BENCHMARKS.md.

use flate2::Compression;
use flate2::write::GzEncoder;
use std::io::Write;
use std::path::PathBuf;

const BUDGET_BYTES: usize = 150_000;

fn gzipped_len(bytes: &[u8]) -> std::io::Result<usize> {
    let mut encoder = GzEncoder::new(Vec::new(), Compression::best());
    encoder.write_all(bytes)?;
    Ok(encoder.finish()?.len())
}

#[test]
fn wasm_and_js_fit_in_150_kb_gzipped() -> std::io::Result<()> {
    let dist = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../dist");
    let mut total = 0;
    let mut seen = Vec::new();
    for entry in std::fs::read_dir(&dist)? {
        let path = entry?.path();
        let is_code = path
            .extension()
            .is_some_and(|ext| ext == "wasm" || ext == "js");
        if is_code {
            let size = gzipped_len(&std::fs::read(&path)?)?;
            seen.push(format!("{}: {size} B", path.display()));
            total += size;
        }
    }
    println!("{}\ntotal: {total} B gzipped", seen.join("\n"));
    assert_eq!(
        seen.len(),
        2,
        "expected one .wasm and one .js in {}",
        dist.display()
    );
    assert!(
        total <= BUDGET_BYTES,
        "the app is {total} B gzipped, over the {BUDGET_BYTES} B budget"
    );
    Ok(())
}
