#!/usr/bin/env bash
# The deployable artefacts work: the release binary (`just release`) starts from an empty
# folder with no dist/ beside it, serves the embedded app with its headers, answers its
# own health check and exits 0 on SIGTERM; the image (`just image`) holds that very
# binary, runs it as a non-root user, exposes the port and checks /healthz. Images can
# be built but not run on the development machines, so the image is inspected, not run.
set -euo pipefail
cd "$(dirname "$0")/.."
passed=0
ok() { passed=$((passed + 1)); echo "ok: $*"; }
fail() { echo "FAILED: $*" >&2; exit 1; }

# `just release` prints the binary's path last (the app's build logs come before).
binary=$(just release | tail -n 1)
[ -x "$binary" ] || fail "just release printed $binary, which is not an executable"
if [[ "$binary" == *musl* ]]; then
    if readelf -d "$binary" | grep -q NEEDED; then
        fail "$binary needs shared libraries: $(readelf -d "$binary" | grep NEEDED)"
    fi
    ok "$binary is statically linked"
fi

work=$(mktemp -d)
server=""
trap '[ -n "$server" ] && kill "$server" 2>/dev/null; rm -rf "$work"' EXIT
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
(cd "$work" && exec env -i CHAT_ADDR="127.0.0.1:$port" "$OLDPWD/$binary") >"$work/log" 2>&1 &
server=$!
for _ in $(seq 100); do
    CHAT_ADDR="127.0.0.1:$port" "$binary" healthcheck >/dev/null 2>&1 && break
    kill -0 "$server" 2>/dev/null || fail "the server exited: $(cat "$work/log")"
    sleep 0.1
done
CHAT_ADDR="127.0.0.1:$port" "$binary" healthcheck | grep -q '"ok"' || fail "healthcheck"
ok "the binary answers its own health check"
[ -f "$work/chat.db" ] || fail "no SQLite file in the working directory"
[ ! -e "$work/dist" ] || fail "a dist/ appeared"

headers=$(curl -sS -D - -o "$work/index.html" -H 'Accept-Encoding: br, gzip' "http://127.0.0.1:$port/")
grep -qi '^content-type: text/html; charset=utf-8' <<<"$headers" || fail "/ content type: $headers"
grep -qi '^cache-control: no-cache' <<<"$headers" || fail "/ caching: $headers"
wasm=$(grep -o 'frontend-[0-9a-f]*_bg\.wasm' dist/index.html | head -1)
[ -n "$wasm" ] || wasm=$(cd dist && ls ./*_bg.wasm | head -1 | sed 's|^\./||')
headers=$(curl -sS -D - -o /dev/null -H 'Accept-Encoding: gzip, br' "http://127.0.0.1:$port/$wasm")
grep -qi '^content-encoding: br' <<<"$headers" || fail "$wasm encoding: $headers"
grep -qi '^content-type: application/wasm' <<<"$headers" || fail "$wasm type: $headers"
grep -qi '^cache-control: public, max-age=31536000, immutable' <<<"$headers" || fail "$wasm caching: $headers"
curl -sS --compressed "http://127.0.0.1:$port/$wasm" | cmp -s - "dist/$wasm" || fail "$wasm differs from dist/"
ok "the embedded app is served with its types, encodings and caching"

kill -TERM "$server"
status=0; wait "$server" || status=$?
server=""
[ "$status" -eq 0 ] || fail "exit status $status after SIGTERM: $(cat "$work/log")"
grep -q "shut down cleanly" "$work/log" || fail "no clean shutdown: $(cat "$work/log")"
ok "SIGTERM: exit 0 after a clean shutdown"

tool=$(deploy/container-tool.sh || true)
if [ -z "$tool" ]; then
    [ -n "${CI:-}" ] && fail "neither podman nor a docker with a running daemon is installed"
    echo "skipped: the image (neither podman nor a docker with a running daemon is installed)"
else
    tag="check-$$"
    just image "$tag" "$binary" >"$work/build.log" 2>&1 || fail "image build: $(tail -20 "$work/build.log")"
    image="localhost/chat-server:$tag"
    trap '[ -n "$server" ] && kill "$server" 2>/dev/null; "$tool" rmi -f "$image" >/dev/null 2>&1; rm -rf "$work"' EXIT
    ok "the image builds"
    inspect() { "$tool" image inspect --format "$1" "$image"; }
    [ "$(inspect '{{.Config.User}}')" = "65532:65532" ] || fail "user: $(inspect '{{.Config.User}}')"
    [ "$(inspect '{{json .Config.Entrypoint}}')" = '["/chat-server"]' ] || fail "entrypoint: $(inspect '{{json .Config.Entrypoint}}')"
    inspect '{{json .Config.ExposedPorts}}' | grep -q '3000/tcp' || fail "exposed: $(inspect '{{json .Config.ExposedPorts}}')"
    inspect '{{json .Config.Healthcheck}}' | grep -q '"/chat-server","healthcheck"' || fail "health check: $(inspect '{{json .Config.Healthcheck}}')"
    inspect '{{json .Config.Env}}' | grep -q 'CHAT_ADDR=0.0.0.0:3000' || fail "env: $(inspect '{{json .Config.Env}}')"
    ok "the image runs /chat-server as 65532:65532 on port 3000 with a /healthz check"
    save_format=(); [ "$(basename "$tool")" = podman ] && save_format=(--format docker-archive)
    "$tool" save "${save_format[@]}" -o "$work/image.tar" "$image" >/dev/null 2>"$work/save.log" \
        || fail "saving the image: $(cat "$work/save.log")"
    mkdir "$work/image" && tar -xf "$work/image.tar" -C "$work/image"
    found=""
    for layer in $(find "$work/image" -name '*.tar' ! -name image.tar); do
        if tar -tf "$layer" 2>/dev/null | grep -qx 'chat-server'; then
            tar -xf "$layer" -C "$work/image" chat-server
            found=yes
        fi
    done
    [ -n "$found" ] || fail "no /chat-server in the image's layers"
    cmp -s "$work/image/chat-server" "$binary" || fail "the image's /chat-server is not $binary"
    ok "the image's /chat-server is the binary tested above"
fi
echo "release check: $passed passed, 0 failed"
