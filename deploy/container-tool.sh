#!/usr/bin/env bash
# Prints the container tool to build images with: podman, or docker when its daemon
# answers (a docker CLI without a daemon cannot build anything). Exits 1 when neither.
if command -v podman >/dev/null 2>&1; then
    command -v podman
elif command -v docker >/dev/null 2>&1 && docker info >/dev/null 2>&1; then
    command -v docker
else
    exit 1
fi
