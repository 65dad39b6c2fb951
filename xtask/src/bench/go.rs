//! The Go-built comparison of `cargo xtask bench`: gpustack's `gpustack-rate-limit` (Go wasip1 and
//! the wasm-go SDK, from PyPI's `gpustack-higress-plugins==0.5.1` wheel that
//! `scripts/bootstrap.sh` unzips) limiting the same header key as cluster-rate-limit.

use std::path::PathBuf;

use anyhow::{Result, bail};
use serde_json::{Value, json};

/// The module's name in the wheel and in the tables.
pub(super) const NAME: &str = "gpustack-rate-limit";
const VERSION: &str = "1.0.1";

/// `NAME/VERSION/plugin.wasm` of the unzipped wheel (`GO_PLUGINS_DIR` overrides the directory
/// holding `NAME/VERSION/plugin.wasm`, as in gateway-host's Go plugin tests).
pub(super) fn module() -> Result<PathBuf> {
    let dir = match std::env::var_os("GO_PLUGINS_DIR") {
        Some(dir) => PathBuf::from(dir),
        None => std::env::var_os("HOME").map(PathBuf::from).unwrap_or_default().join(
            ".cache/higress-redis-filters/wheels/gpustack-higress-plugins-0.5.1/gpustack_higress_plugins/plugins",
        ),
    };
    let path = dir.join(NAME).join(VERSION).join("plugin.wasm");
    if !path.is_file() {
        bail!(
            "{} is missing: run scripts/bootstrap.sh (it unzips PyPI's gpustack-higress-plugins==0.5.1 into \
             ~/.cache/higress-redis-filters/wheels/) or set GO_PLUGINS_DIR",
            path.display()
        );
    }
    Ok(path)
}

/// A request-count limit of `quota` per day for each value of header `x-bench-key`, on every path,
/// counted in the local gateway's Redis (`redis.static:6379`, as the Rust plugins' configs).
pub(super) fn config(quota: u64) -> Value {
    json!({
        "rule_name": "bench",
        "enable_on_path_suffix": ["*"],
        "redis": {"service_name": "redis.static", "service_port": 6379, "timeout": 1000},
        "limit_combinations": [{
            "name": "per-key",
            "match": [{"source": "header", "name": "x-bench-key", "value": "*"}],
            "query_limits": {"per_day": quota}
        }]
    })
}
