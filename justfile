# The recipes people type. `just` alone lists them.

set shell := ["bash", "-euo", "pipefail", "-c"]

default:
    @just --list

# Build the browser app and run the server on http://127.0.0.1:3000 (flags after the recipe name, e.g. `just run --addr 0.0.0.0:3000`).
run *ARGS: setup-web web
    cargo run --locked --release -p chat-server -- --static-dir dist {{ARGS}}

# Three nodes of one cluster on http://127.0.0.1:3001, :3002 and :3003, sharing the local PostgreSQL and Redis: open two side by side and chat across them.
cluster POSTGRES="postgres://postgres@127.0.0.1:5432/test" REDIS="redis://127.0.0.1:6379": setup-web web
    #!/usr/bin/env bash
    set -euo pipefail
    cargo build --locked --release -p chat-server
    pids=()
    trap 'kill "${pids[@]}" 2>/dev/null || true' EXIT
    for port in 3001 3002 3003; do
        target/release/chat-server --static-dir dist --addr "127.0.0.1:$port" \
            --database-url "{{POSTGRES}}" --redis-url "{{REDIS}}" --redis-namespace just-cluster &
        pids+=("$!")
    done
    wait

# Frontend work: the server on :3000 and `trunk serve` with live reload on :8080.
dev: setup-web
    #!/usr/bin/env bash
    set -euo pipefail
    export PATH="$PWD/node_modules/.bin:$HOME/.cargo/bin:$PATH"
    cargo run --locked -p chat-server -- --static-dir dist &
    server=$!
    trap 'kill $server' EXIT
    TRUNK_SKIP_VERSION_CHECK=true trunk serve

# Everything CI checks: formatting, lints, the protocol crate for wasm, the browser app, and all tests (unit, sockets, PostgreSQL, Chromium end-to-end).
test: setup setup-web setup-deploy web lint
    cargo build --locked -p chat-protocol --target wasm32-unknown-unknown
    just release-check
    cargo test --locked --workspace

# One file that is the whole product: the server with the browser app embedded, static for x86_64-unknown-linux-musl where that target installs (else for this system's libc). Prints its path.
release: setup-web web
    #!/usr/bin/env bash
    set -euo pipefail
    export PATH="$HOME/.cargo/bin:$PATH"
    musl=x86_64-unknown-linux-musl
    if [ "$(uname -m)" = x86_64 ] && rustup target add "$musl" >/dev/null 2>&1; then
        if ! command -v musl-gcc >/dev/null 2>&1; then
            echo "installing musl-tools (the C parts: SQLite, ring, mimalloc)" >&2
            sudo=""; [ "$(id -u)" -eq 0 ] || sudo="sudo"
            $sudo apt-get update -qq || true
            DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq musl-tools >&2 || true
        fi
    fi
    if command -v musl-gcc >/dev/null 2>&1 && rustup target list --installed | grep -qx "$musl"; then
        cargo build --locked --profile dist -p chat-server --features embed-app --target "$musl" >&2
        echo "target/$musl/dist/chat-server"
    else
        echo "no musl toolchain here: building for this system's libc" >&2
        cargo build --locked --profile dist -p chat-server --features embed-app >&2
        echo "target/dist/chat-server"
    fi

# The container image localhost/chat-server (Containerfile: the release binary alone, non-root, with a health check), with podman or docker, whichever is installed; BINARY: one `just release` built already.
image TAG="latest" BINARY="":
    #!/usr/bin/env bash
    set -euo pipefail
    binary="{{BINARY}}"
    # `just release` prints the binary's path last (the app's build logs come before).
    [ -n "$binary" ] || binary=$(just release | tail -n 1)
    tool=$(deploy/container-tool.sh) || { echo "neither podman nor a docker with a running daemon is installed" >&2; exit 1; }
    context=target/image
    rm -rf "$context" && mkdir -p "$context/data"
    cp "$binary" "$context/chat-server"
    # Docker's format: OCI images have no HEALTHCHECK.
    format=(); [ "$(basename "$tool")" = podman ] && format=(--format docker)
    "$tool" build "${format[@]}" -f Containerfile -t "localhost/chat-server:{{TAG}}" "$context"

# Proves the deployable artefacts: the release binary serves the embedded app and stops cleanly, and the image holds that binary, as a non-root user, with its health check (images can be built here, not run).
release-check: setup-deploy
    deploy/check-release.sh

# Install what the deployment checks use (idempotent): podman to build images, nginx for the TLS end-to-end test, musl-tools for the static build.
setup-deploy:
    #!/usr/bin/env bash
    set -euo pipefail
    missing=()
    command -v nginx >/dev/null 2>&1 || [ -x /usr/sbin/nginx ] || missing+=(nginx)
    deploy/container-tool.sh >/dev/null || missing+=(podman)
    command -v musl-gcc >/dev/null 2>&1 || missing+=(musl-tools)
    if [ "${#missing[@]}" -gt 0 ]; then
        echo "installing ${missing[*]} from Debian (first time only)"
        sudo=""; [ "$(id -u)" -eq 0 ] || sudo="sudo"
        $sudo apt-get update -qq
        DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}"
        # Debian starts the packaged nginx on port 80; the tests run their own.
        if [[ " ${missing[*]} " == *" nginx "* ]]; then
            $sudo systemctl disable --now nginx 2>/dev/null || $sudo service nginx stop 2>/dev/null || $sudo nginx -s quit 2>/dev/null || true
        fi
    fi

# Build the browser app (release) into dist/.
web:
    #!/usr/bin/env bash
    set -euo pipefail
    export PATH="$PWD/node_modules/.bin:$HOME/.cargo/bin:$PATH"
    cargo fetch --locked
    # The release app is built with its own copy of the standard library whose panics
    # abort at once: no panic messages, locations or formatting reach the download (about
    # 15 KB gzipped of the 150 KB budget; a release panic printed nothing anyway, as no
    # hook is set). That is an unstable option of this stable toolchain (RUSTC_BOOTSTRAP,
    # as Leptos' size guide does with nightly); a toolchain without it builds as shipped.
    if RUSTC_BOOTSTRAP=1 rustc -Zunstable-options -Cpanic=immediate-abort --print cfg \
            --target wasm32-unknown-unknown 2>/dev/null | grep -q 'panic="immediate-abort"' \
        && [ -d "$(rustc --print sysroot)/lib/rustlib/src/rust/library" ]; then
        export RUSTC_BOOTSTRAP=1 CARGO_UNSTABLE_BUILD_STD=std,panic_abort \
            CARGO_UNSTABLE_PANIC_IMMEDIATE_ABORT=true CARGO_PROFILE_WASM_RELEASE_PANIC=immediate-abort
        # The standard library's own dependencies, pinned by its Cargo.lock: the offline
        # build below resolves them too (on a fresh machine nothing else fetched them).
        cargo fetch --locked --manifest-path "$(rustc --print sysroot)/lib/rustlib/src/rust/library/Cargo.toml"
    else
        echo "warning: this toolchain cannot leave panics out of the app: it is about 15 KB larger" >&2
    fi
    TRUNK_SKIP_VERSION_CHECK=true trunk build --release --offline --locked

# Install what the tests need beyond Rust (idempotent; quick when present): the wasm target and Chromium for the browser tests.
setup:
    #!/usr/bin/env bash
    set -euo pipefail
    rustup target add wasm32-unknown-unknown
    if [ ! -x /usr/bin/chromium ] || [ ! -x /usr/bin/chromedriver ]; then
        echo "installing Chromium and ChromeDriver from Debian (first time only)"
        sudo=""; [ "$(id -u)" -eq 0 ] || sudo="sudo"
        $sudo apt-get update -qq
        DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq chromium chromium-driver
    fi

# Install the browser app's build tools if missing: trunk 0.21.14, wasm-bindgen-cli 0.2.129 (must equal the crate), the standard library's source, and from npm wasm-opt (binaryen), esbuild and axe-core (the browser tests' accessibility check).
setup-web:
    #!/usr/bin/env bash
    set -euo pipefail
    export PATH="$HOME/.cargo/bin:$PATH"
    rustup target add wasm32-unknown-unknown
    # The standard library's source, which the release app is built from (`just web`).
    rustup component add rust-src
    if ! trunk --version 2>/dev/null | grep -q '0.21.14'; then
        echo "installing trunk 0.21.14 (first time only, about 15 minutes)"
        cargo install --locked trunk@0.21.14
    fi
    if ! wasm-bindgen --version 2>/dev/null | grep -q '0.2.129'; then
        echo "installing wasm-bindgen-cli 0.2.129 (first time only, about 5 minutes)"
        cargo install --locked wasm-bindgen-cli@0.2.129
    fi
    if [ ! -x node_modules/.bin/wasm-opt ] || [ ! -x node_modules/.bin/esbuild ] \
        || [ ! -f node_modules/axe-core/axe.min.js ]; then
        npm ci --no-audit --no-fund
    fi

# Fuzz each target for SECS seconds (default 600): the frame reader, the handshake checks,
# both frame decoders, and the Telegram initData check. Needs cargo-fuzz (installed if
# missing) and nightly Rust (or stable with RUSTC_BOOTSTRAP, when no nightly is installed).
fuzz SECS="600":
    #!/usr/bin/env bash
    set -euo pipefail
    export PATH="$HOME/.cargo/bin:$PATH"
    if ! cargo fuzz --version >/dev/null 2>&1; then
        cargo install --locked cargo-fuzz
    fi
    toolchain="+nightly"
    if ! rustup run nightly rustc --version >/dev/null 2>&1; then
        toolchain=""
        export RUSTC_BOOTSTRAP=1
    fi
    for target in frame_reader handshake client_frame server_frame init_data; do
        mkdir -p "fuzz/corpus/$target"
        echo "fuzzing $target for {{SECS}} s"
        cargo $toolchain fuzz run --fuzz-dir fuzz "$target" "fuzz/corpus/$target" "fuzz/seeds/$target" -- -max_total_time={{SECS}} -rss_limit_mb=2048
    done

# Format all code.
fmt:
    cargo fmt --all

# Formatting check and clippy with warnings as errors (the end-to-end tests embed the built app, so it is built first).
lint: web
    cargo fmt --all -- --check
    cargo clippy --locked --workspace --all-targets -- -D warnings

# The socket scenarios run first and are written into BENCHMARKS.md with the machine, date
# and commit; storage throughput and the cluster comparison (two nodes against one) follow (printed), so
# their disk activity cannot disturb them. With 2+ cores the server is pinned
# to CPU 0 and the load generator to CPU 1. The PostgreSQL storage rows use a scratch
# schema in POSTGRES and are skipped if it is unreachable.

# Run the benchmarks on release builds and record them in BENCHMARKS.md.
bench POSTGRES="postgres://postgres@127.0.0.1:5432/test" REDIS="redis://127.0.0.1:6379":
    cargo build --locked --release -p chat-server -p chat-bench
    if [ "$(nproc)" -ge 2 ]; then \
        taskset -c 1 target/release/chat-bench suite --server-cpu 0 --commit "$(git rev-parse --short HEAD)"; \
    else \
        target/release/chat-bench suite --commit "$(git rev-parse --short HEAD)"; \
    fi
    target/release/chat-bench store --database sqlite --senders 100 --rooms 10 --messages 2000
    target/release/chat-bench store --database sqlite --senders 1000 --rooms 100 --messages 200
    -target/release/chat-bench store --database {{POSTGRES}} --senders 100 --rooms 10 --messages 2000
    -target/release/chat-bench store --database {{POSTGRES}} --senders 1000 --rooms 100 --messages 200
    -target/release/chat-bench cluster --database {{POSTGRES}} --redis {{REDIS}}

# The release binary's size and start-up time (exec to `GET /` 200), against the plain release build serving dist/, in one run (BENCHMARKS.md "The release binary").
bench-release:
    #!/usr/bin/env bash
    set -euo pipefail
    binary=$(just release | tail -n 1)
    cargo build --locked --release -p chat-server -p chat-bench
    target/release/chat-bench startup --binary "$binary" --reference target/release/chat-server --runs 21
