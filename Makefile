# Thin wrappers over cargo and `cargo xtask`. `make demo` and `make test` set up a fresh
# Debian machine themselves (apt packages, the wasm target) through scripts/bootstrap.sh.

CARGO ?= cargo

.PHONY: all bootstrap test lint fmt demo plugins clean

all: test

bootstrap:
	@bash scripts/bootstrap.sh

## test: every test of the workspace (unit, TestHost scenarios, wasm end to end with a real Redis)
test: bootstrap
	$(CARGO) test --workspace

## lint: formatting and clippy, as CI expects them
lint:
	$(CARGO) fmt --all --check
	$(CARGO) clippy --workspace --all-targets -- -D warnings
	$(CARGO) clippy --target wasm32-wasip1 -p gateway-sdk -p gateway-quota -p gateway-json -p cluster-rate-limit -p token-limit -p cookie-cache -p hello-redis -p conformance-filter -- -D warnings

fmt:
	$(CARGO) fmt --all

## plugins: build every plugin and example to wasm (release)
plugins: bootstrap
	$(CARGO) build --release --target wasm32-wasip1 --workspace --exclude gateway-host --exclude xtask --lib

## bench: wasm instructions and Redis commands per request of each plugin, written to docs/benchmarks.md
.PHONY: bench
bench: bootstrap
	$(CARGO) xtask bench

## demo: a local gateway with the plugins against a real Redis
demo: bootstrap
	$(CARGO) run --release -p xtask -- demo

clean:
	$(CARGO) clean

## images: build every plugin (wasm-opt'd) and package it as an OCI image in target/plugins/NAME/{oci,oci.tar}
## image: the same for one plugin, for CI matrices: make image PLUGIN=cluster-rate-limit
.PHONY: images image
images: bootstrap
	$(CARGO) xtask package

image: bootstrap
	@test -n "$(PLUGIN)" || { echo "usage: make image PLUGIN=NAME" >&2; exit 2; }
	$(CARGO) xtask package --plugin $(PLUGIN)
