//! The browser app's download stays within its budget: 150 KB of wasm and JS, gzipped.
//!
//! Phones inside Telegram load the app over mobile networks, so its size is a feature;
//! this test keeps a dependency or a careless generic from quietly growing it. The
//! numbers and where the bytes go are in BENCHMARKS.md.

use flate2::Compression;
use flate2::write::GzEncoder;
use std::io::Write;
use std::path::{Path, PathBuf};

const BUDGET_BYTES: usize = 150_000;

fn gzipped_len(bytes: &[u8]) -> std::io::Result<usize> {
    let mut encoder = GzEncoder::new(Vec::new(), Compression::best());
    encoder.write_all(bytes)?;
    Ok(encoder.finish()?.len())
}

/// Every `.wasm` and `.js` file under `dir`, subdirectories included (wasm-bindgen puts
/// the app's own JavaScript snippets in `snippets/`).
fn code_files(dir: &Path, found: &mut Vec<PathBuf>) -> std::io::Result<()> {
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        if path.is_dir() {
            code_files(&path, found)?;
        } else if path
            .extension()
            .is_some_and(|ext| ext == "wasm" || ext == "js")
        {
            found.push(path);
        }
    }
    Ok(())
}

#[test]
fn wasm_and_js_fit_in_150_kb_gzipped() -> std::io::Result<()> {
    let dist = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../dist");
    let mut files = Vec::new();
    code_files(&dist, &mut files)?;
    let mut total = 0;
    let mut seen = Vec::new();
    for path in &files {
        let size = gzipped_len(&std::fs::read(path)?)?;
        seen.push(format!("{}: {size} B", path.display()));
        total += size;
    }
    println!("{}\ntotal: {total} B gzipped", seen.join("\n"));
    let wasm = files
        .iter()
        .filter(|p| p.extension().is_some_and(|e| e == "wasm"))
        .count();
    assert_eq!(
        wasm,
        1,
        "expected one .wasm in {}: {seen:?}",
        dist.display()
    );
    assert!(
        files.len() >= 2,
        "expected the JS glue beside the wasm in {}",
        dist.display()
    );
    assert!(
        total <= BUDGET_BYTES,
        "the app is {total} B gzipped, over the {BUDGET_BYTES} B budget"
    );
    Ok(())
}
