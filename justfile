# The recipes people type. `just` alone lists them.

set shell := ["bash", "-euo", "pipefail", "-c"]

default:
    @just --list

# Build and run the server on http://127.0.0.1:3000 (flags after `--`, e.g. `just run --addr 0.0.0.0:3000`).
run *ARGS:
    cargo run --locked --release -p chat-server -- {{ARGS}}

# Everything CI checks: formatting, lints, the protocol crate for wasm, and all tests.
test: setup lint
    cargo build --locked -p chat-protocol --target wasm32-unknown-unknown
    cargo test --locked --workspace

# Install the toolchain parts the project needs (idempotent; quick when present).
setup:
    rustup target add wasm32-unknown-unknown

# Format all code.
fmt:
    cargo fmt --all

# Formatting check and clippy with warnings as errors.
lint:
    cargo fmt --all -- --check
    cargo clippy --locked --workspace --all-targets -- -D warnings

# The socket scenarios run first and are written into BENCHMARKS.md with the machine, date
# and commit; storage throughput follows (printed), so its disk activity cannot disturb them. With 2+ cores the server is pinned
# to CPU 0 and the load generator to CPU 1. The PostgreSQL storage rows use a scratch
# schema in POSTGRES and are skipped if it is unreachable.

# Run the benchmarks on release builds and record them in BENCHMARKS.md.
bench POSTGRES="postgres://postgres@127.0.0.1:5432/test":
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
