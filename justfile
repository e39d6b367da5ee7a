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
