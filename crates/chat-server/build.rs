//! With the `embed-app` feature, prepares the built browser app for embedding: copies
//! `dist/` (or `$CHAT_APP_DIR`) into `$OUT_DIR/app` and adds a brotli (`.br`) and a gzip
//! (`.gz`) copy of every file that compresses, so that the binary serves them
//! precompressed at no CPU cost per request. Without the feature it does nothing, so
//! `cargo run -p chat-server` needs no web tools.

fn main() -> Result<(), Box<dyn std::error::Error>> {
    println!("cargo::rerun-if-env-changed=CHAT_APP_DIR");
    #[cfg(feature = "embed-app")]
    embed::prepare()?;
    Ok(())
}

#[cfg(feature = "embed-app")]
mod embed {
    use std::error::Error;
    use std::fs;
    use std::io::Write;
    use std::path::{Path, PathBuf};

    /// Extensions of files that shrink under compression (images and fonts of the
    /// formats browsers use are compressed already).
    const COMPRESSIBLE: &[&str] = &[
        "html",
        "js",
        "mjs",
        "wasm",
        "css",
        "svg",
        "json",
        "txt",
        "map",
        "webmanifest",
        "xml",
    ];

    pub fn prepare() -> Result<(), Box<dyn Error>> {
        let manifest = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR")?);
        let dist = std::env::var_os("CHAT_APP_DIR")
            .map(PathBuf::from)
            .unwrap_or_else(|| manifest.join("../../dist"));
        println!("cargo::rerun-if-changed={}", dist.display());
        if !dist.join("index.html").is_file() {
            return Err(format!(
                "the `embed-app` feature embeds the built browser app, and {} has no \
                 index.html: run `just web` first (or point CHAT_APP_DIR at a build)",
                dist.display()
            )
            .into());
        }
        let out = PathBuf::from(std::env::var("OUT_DIR")?).join("app");
        match fs::remove_dir_all(&out) {
            Err(err) if err.kind() != std::io::ErrorKind::NotFound => return Err(err.into()),
            _ => {}
        }
        copy_tree(&dist, &out)
    }

    fn copy_tree(from: &Path, to: &Path) -> Result<(), Box<dyn Error>> {
        fs::create_dir_all(to)?;
        for entry in fs::read_dir(from)? {
            let entry = entry?;
            let path = entry.path();
            let target = to.join(entry.file_name());
            if entry.file_type()?.is_dir() {
                copy_tree(&path, &target)?;
                continue;
            }
            let extension = path.extension().and_then(|e| e.to_str()).unwrap_or("");
            // Compressed copies a build tool may have left are made again from the source.
            if matches!(extension, "br" | "gz") {
                continue;
            }
            let data = fs::read(&path)?;
            if COMPRESSIBLE.contains(&extension) {
                write_if_smaller(&target, "br", &data, brotli(&data)?)?;
                write_if_smaller(&target, "gz", &data, gzip(&data)?)?;
            }
            fs::write(&target, data)?;
        }
        Ok(())
    }

    /// Keeps a compressed copy only when it saves something worth a header.
    fn write_if_smaller(
        target: &Path,
        suffix: &str,
        original: &[u8],
        compressed: Vec<u8>,
    ) -> Result<(), Box<dyn Error>> {
        if compressed.len() + 64 < original.len() {
            let mut name = target.as_os_str().to_owned();
            name.push(".");
            name.push(suffix);
            fs::write(name, compressed)?;
        }
        Ok(())
    }

    fn brotli(data: &[u8]) -> Result<Vec<u8>, Box<dyn Error>> {
        let mut out = Vec::new();
        let params = brotli::enc::BrotliEncoderParams {
            quality: 11,
            lgwin: 22,
            ..Default::default()
        };
        brotli::BrotliCompress(&mut &data[..], &mut out, &params)?;
        Ok(out)
    }

    fn gzip(data: &[u8]) -> Result<Vec<u8>, Box<dyn Error>> {
        let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
        encoder.write_all(data)?;
        Ok(encoder.finish()?)
    }
}
