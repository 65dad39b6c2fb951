//! The gateway configuration: listeners, routes, clusters and plugins (YAML or JSON).

use std::path::{Path, PathBuf};

use anyhow::{Context as _, bail};
use serde::{Deserialize, Serialize};

/// A whole gateway: what `gateway-host serve --config FILE` reads and what tests build in code.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GatewayConfig {
    /// Worker threads, like Envoy's `--concurrency`; each worker has its own VM per plugin.
    #[serde(default = "default_concurrency")]
    pub concurrency: usize,
    /// Host log level (`error`, `warn`, `info`, `debug`, `trace`); also what `proxy_get_log_level` reports.
    #[serde(default = "default_log_level")]
    pub log_level: String,
    pub listeners: Vec<ListenerConfig>,
    #[serde(default)]
    pub clusters: Vec<ClusterConfig>,
    #[serde(default)]
    pub plugins: Vec<PluginConfig>,
    /// Fuel (wasm instructions) allowed for one VM call before it traps.
    #[serde(default = "default_fuel_per_call")]
    pub fuel_per_call: u64,
    /// Linear memory limit per VM in bytes; `memory.grow` past it fails.
    #[serde(default = "default_memory_limit")]
    pub memory_limit_bytes: usize,
    /// Optional admin listener (`host:port`): `GET /stats` answers fuel and metrics as JSON,
    /// `GET /profile` the fuel profile.
    #[serde(default)]
    pub admin_address: Option<String>,
    /// The fuel profile: instrument every plugin at load time to count fuel and calls per wasm
    /// function (`Gateway::profile`, the admin listener's `GET /profile`). Off by default; when
    /// off, modules are compiled as they are.
    #[serde(default)]
    pub profile_fuel: bool,
}

/// One HTTP/1.1 listener.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ListenerConfig {
    /// `host:port`; port 0 picks a free port (read it back with `Gateway::addr`).
    pub address: String,
    /// Filters (plugin names, in order) for routes that do not list their own.
    #[serde(default)]
    pub filters: Vec<String>,
    pub routes: Vec<RouteConfig>,
}

/// A route: the first route whose domain and path prefix match handles the request.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RouteConfig {
    /// Reported to plugins as the `route_name` property.
    pub name: String,
    /// Domains matched against `:authority` without port: exact, `*`, `*.suffix` or `prefix.*`. Empty = any.
    #[serde(default)]
    pub domains: Vec<String>,
    #[serde(default = "default_prefix")]
    pub prefix: String,
    /// Upstream cluster (also the `cluster_name` property).
    #[serde(default)]
    pub cluster: Option<String>,
    /// A fixed reply instead of an upstream (the filters still run).
    #[serde(default)]
    pub direct_response: Option<DirectResponse>,
    /// Plugin names in order; `None` uses the listener's filters.
    #[serde(default)]
    pub filters: Option<Vec<String>>,
}

/// A fixed reply for a route without an upstream.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DirectResponse {
    pub status: u16,
    #[serde(default)]
    pub body: String,
}

/// A named cluster: an HTTP upstream or a Redis endpoint, named the Envoy way
/// (e.g. `outbound|6379||redis.static`).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClusterConfig {
    pub name: String,
    /// `host:port` endpoints; requests go round robin.
    pub endpoints: Vec<String>,
    #[serde(default = "default_connect_timeout")]
    pub connect_timeout_ms: u64,
    /// Upper bound for a proxied request waiting for response headers.
    #[serde(default = "default_request_timeout")]
    pub timeout_ms: u64,
}

/// One plugin instance (a filter with its own root context and configuration).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PluginConfig {
    /// Referenced by listeners/routes; also the `plugin_name` property.
    pub name: String,
    /// Path of the compiled module (`.wasm`, or `.wat` text).
    pub wasm: PathBuf,
    /// The root id (`plugin_root_id` property); defaults to empty like Envoy.
    #[serde(default)]
    pub root_id: String,
    /// The plugin configuration, passed as a JSON string (Higress `_rules_` shape is passed as is).
    #[serde(default)]
    pub config: serde_json::Value,
    /// VM configuration bytes (`proxy_on_vm_start`).
    #[serde(default)]
    pub vm_config: String,
}

impl PluginConfig {
    /// The configuration bytes handed to `proxy_on_configure`: strings as is, anything else as JSON.
    pub fn config_bytes(&self) -> Vec<u8> {
        match &self.config {
            serde_json::Value::Null => Vec::new(),
            serde_json::Value::String(s) => s.clone().into_bytes(),
            other => other.to_string().into_bytes(),
        }
    }
}

fn default_concurrency() -> usize {
    1
}
fn default_log_level() -> String {
    "info".to_string()
}
fn default_prefix() -> String {
    "/".to_string()
}
fn default_connect_timeout() -> u64 {
    1000
}
fn default_request_timeout() -> u64 {
    15_000
}
fn default_fuel_per_call() -> u64 {
    5_000_000_000
}
fn default_memory_limit() -> usize {
    256 << 20
}

impl GatewayConfig {
    /// A config with one listener on `127.0.0.1:0` and nothing else.
    pub fn new() -> Self {
        GatewayConfig {
            concurrency: default_concurrency(),
            log_level: default_log_level(),
            listeners: vec![ListenerConfig {
                address: "127.0.0.1:0".to_string(),
                filters: Vec::new(),
                routes: Vec::new(),
            }],
            clusters: Vec::new(),
            plugins: Vec::new(),
            fuel_per_call: default_fuel_per_call(),
            memory_limit_bytes: default_memory_limit(),
            admin_address: None,
            profile_fuel: false,
        }
    }

    /// Reads a YAML (`.yaml`/`.yml`) or JSON file; relative wasm paths resolve against the file's folder.
    pub fn from_file(path: &Path) -> anyhow::Result<Self> {
        let text = std::fs::read_to_string(path).with_context(|| format!("reading config {}", path.display()))?;
        let mut config: GatewayConfig = match path.extension().and_then(|e| e.to_str()) {
            Some("yaml") | Some("yml") => {
                serde_yaml::from_str(&text).with_context(|| format!("parsing YAML config {}", path.display()))?
            }
            _ => serde_json::from_str(&text).with_context(|| format!("parsing JSON config {}", path.display()))?,
        };
        if let Some(dir) = path.parent() {
            for plugin in &mut config.plugins {
                if plugin.wasm.is_relative() {
                    plugin.wasm = dir.join(&plugin.wasm);
                }
            }
        }
        config.validate()?;
        Ok(config)
    }

    /// Checks references between listeners, routes, clusters and plugins.
    pub fn validate(&self) -> anyhow::Result<()> {
        if self.concurrency == 0 {
            bail!("concurrency must be at least 1");
        }
        if self.listeners.is_empty() {
            bail!("at least one listener is required");
        }
        for (i, c) in self.clusters.iter().enumerate() {
            if c.endpoints.is_empty() {
                bail!("clusters[{i}] ({}): no endpoints", c.name);
            }
        }
        for (li, l) in self.listeners.iter().enumerate() {
            for name in &l.filters {
                if self.plugin(name).is_none() {
                    bail!("listeners[{li}].filters: unknown plugin {name:?}");
                }
            }
            for (ri, r) in l.routes.iter().enumerate() {
                for name in r.filters.iter().flatten() {
                    if self.plugin(name).is_none() {
                        bail!("listeners[{li}].routes[{ri}].filters: unknown plugin {name:?}");
                    }
                }
                if let Some(c) = &r.cluster
                    && self.cluster(c).is_none()
                {
                    bail!("listeners[{li}].routes[{ri}].cluster: unknown cluster {c:?}");
                }
                if r.cluster.is_none() && r.direct_response.is_none() {
                    bail!("listeners[{li}].routes[{ri}]: needs a cluster or a direct_response");
                }
            }
        }
        Ok(())
    }

    pub fn plugin(&self, name: &str) -> Option<&PluginConfig> {
        self.plugins.iter().find(|p| p.name == name)
    }

    pub fn cluster(&self, name: &str) -> Option<&ClusterConfig> {
        self.clusters.iter().find(|c| c.name == name)
    }

    pub fn log_filter(&self) -> log::LevelFilter {
        self.log_level.parse().unwrap_or(log::LevelFilter::Info)
    }
}

impl Default for GatewayConfig {
    fn default() -> Self {
        Self::new()
    }
}

impl RouteConfig {
    /// Does this route take a request for `host` (without port) and `path`?
    pub fn matches(&self, host: &str, path: &str) -> bool {
        path.starts_with(&self.prefix)
            && (self.domains.is_empty() || self.domains.iter().any(|d| domain_matches(d, host)))
    }
}

fn domain_matches(pattern: &str, host: &str) -> bool {
    if pattern == "*" {
        return true;
    }
    if let Some(suffix) = pattern.strip_prefix('*') {
        return host.len() > suffix.len() && host.ends_with(suffix);
    }
    if let Some(prefix) = pattern.strip_suffix('*') {
        return host.len() > prefix.len() && host.starts_with(prefix);
    }
    pattern.eq_ignore_ascii_case(host)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn domains_match_exact_and_wildcards() {
        assert!(domain_matches("*.example.com", "a.example.com"));
        assert!(!domain_matches("*.example.com", "example.com"));
        assert!(domain_matches("api.*", "api.local"));
        assert!(domain_matches("Foo.com", "foo.com"));
        assert!(!domain_matches("foo.com", "bar.com"));
    }

    #[test]
    fn yaml_config_parses_and_validates() {
        let yaml = r#"
concurrency: 2
listeners:
  - address: 127.0.0.1:0
    filters: [hello]
    routes:
      - name: all
        cluster: backend
clusters:
  - name: backend
    endpoints: ["127.0.0.1:9"]
plugins:
  - name: hello
    wasm: hello.wasm
    config: {"ttl_seconds": 60}
"#;
        let c: GatewayConfig = serde_yaml::from_str(yaml).expect("parses");
        c.validate().expect("valid");
        assert_eq!(c.plugins[0].config_bytes(), br#"{"ttl_seconds":60}"#.to_vec());
        let mut bad = c.clone();
        bad.listeners[0].filters.push("nope".into());
        assert!(bad.validate().unwrap_err().to_string().contains("nope"));
    }
}
