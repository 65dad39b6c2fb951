//! Shared helpers for the gateway-host tests: WAT plugin templates and config builders.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::PathBuf;

use gateway_host::{ClusterConfig, Gateway, GatewayConfig, PluginConfig, RouteConfig};

/// Every import a WAT test plugin may use.
pub const IMPORTS: &str = r#"
  (import "env" "proxy_log" (func $log (param i32 i32 i32) (result i32)))
  (import "env" "proxy_add_header_map_value" (func $add_header (param i32 i32 i32 i32 i32) (result i32)))
  (import "env" "proxy_replace_header_map_value" (func $replace_header (param i32 i32 i32 i32 i32) (result i32)))
  (import "env" "proxy_remove_header_map_value" (func $remove_header (param i32 i32 i32) (result i32)))
  (import "env" "proxy_get_header_map_value" (func $get_header (param i32 i32 i32 i32 i32) (result i32)))
  (import "env" "proxy_get_buffer_bytes" (func $get_buffer (param i32 i32 i32 i32 i32) (result i32)))
  (import "env" "proxy_set_buffer_bytes" (func $set_buffer (param i32 i32 i32 i32 i32) (result i32)))
  (import "env" "proxy_get_buffer_status" (func $buffer_status (param i32 i32 i32) (result i32)))
  (import "env" "proxy_get_property" (func $get_property (param i32 i32 i32 i32) (result i32)))
  (import "env" "proxy_set_effective_context" (func $set_ctx (param i32) (result i32)))
  (import "env" "proxy_continue_stream" (func $continue (param i32) (result i32)))
  (import "env" "proxy_send_local_response" (func $local (param i32 i32 i32 i32 i32 i32 i32 i32) (result i32)))
  (import "env" "proxy_http_call" (func $http_call (param i32 i32 i32 i32 i32 i32 i32 i32 i32 i32) (result i32)))
  (import "env" "proxy_define_metric" (func $define_metric (param i32 i32 i32 i32) (result i32)))
  (import "env" "proxy_increment_metric" (func $inc_metric (param i32 i64) (result i32)))
  (import "env" "proxy_redis_init" (func $redis_init (param i32 i32 i32 i32 i32 i32 i32) (result i32)))
  (import "env" "proxy_redis_call" (func $redis_call (param i32 i32 i32 i32 i32) (result i32)))
  (import "env" "proxy_set_tick_period_milliseconds" (func $set_tick (param i32) (result i32)))
  (import "env" "proxy_get_shared_data" (func $get_shared (param i32 i32 i32 i32 i32) (result i32)))
  (import "env" "proxy_set_shared_data" (func $set_shared (param i32 i32 i32 i32 i32) (result i32)))
  (import "env" "proxy_register_shared_queue" (func $register_queue (param i32 i32 i32) (result i32)))
  (import "env" "proxy_enqueue_shared_queue" (func $enqueue (param i32 i32 i32) (result i32)))
  (import "env" "proxy_dequeue_shared_queue" (func $dequeue (param i32 i32 i32) (result i32)))
  (import "env" "proxy_call_foreign_function" (func $foreign (param i32 i32 i32 i32 i32 i32) (result i32)))
  (import "env" "proxy_get_log_level" (func $log_level (param i32) (result i32)))
  (import "env" "proxy_get_current_time_nanoseconds" (func $now (param i32) (result i32)))
  (import "env" "proxy_grpc_call" (func $grpc_call (param i32 i32 i32 i32 i32 i32 i32 i32 i32 i32 i32 i32) (result i32)))
  (import "env" "proxy_grpc_cancel" (func $grpc_cancel (param i32) (result i32)))
  (import "env" "proxy_set_property" (func $set_property (param i32 i32 i32 i32) (result i32)))
  (import "env" "proxy_get_metric" (func $get_metric (param i32 i32) (result i32)))
  (import "env" "proxy_record_metric" (func $record_metric (param i32 i64) (result i32)))
  (import "env" "proxy_close_stream" (func $close_stream (param i32) (result i32)))
"#;

/// A plugin module: memory (16 pages, bump allocator from 64 KiB), ABI export, the usual
/// lifecycle exports with trivial bodies, plus `body` (data segments and exported functions).
/// Scratch: 512/516 out pointers, 520 token out, 8192.. reply body.
pub fn module(body: &str, exports_default: &[&str]) -> String {
    let mut defaults = String::new();
    let has = |name: &str| body.contains(&format!("(export \"{name}\")"));
    for name in exports_default {
        if has(name) {
            continue;
        }
        defaults.push_str(match *name {
            "proxy_on_context_create" => "(func (export \"proxy_on_context_create\") (param i32 i32))\n",
            "proxy_on_vm_start" => "(func (export \"proxy_on_vm_start\") (param i32 i32) (result i32) (i32.const 1))\n",
            "proxy_on_configure" => {
                "(func (export \"proxy_on_configure\") (param i32 i32) (result i32) (i32.const 1))\n"
            }
            _ => "",
        });
    }
    format!(
        r#"(module
  {IMPORTS}
  (memory (export "memory") 16)
  (global $heap (mut i32) (i32.const 65536))
  (func (export "proxy_abi_version_0_2_1"))
  (func (export "proxy_on_memory_allocate") (param $n i32) (result i32)
    (local $p i32)
    (local.set $p (global.get $heap))
    (global.set $heap (i32.add (global.get $heap) (i32.and (i32.add (local.get $n) (i32.const 7)) (i32.const -8))))
    (if (i32.gt_u (global.get $heap) (i32.const 1000000)) (then (global.set $heap (i32.const 65536))))
    (local.get $p))
  (func $reply (param $status i32) (param $body i32) (param $len i32)
    (drop (call $local (local.get $status) (i32.const 0) (i32.const 0) (local.get $body) (local.get $len) (i32.const 0) (i32.const 0) (i32.const -1))))
  {defaults}
  {body}
)"#
    )
}

/// `module` with the default lifecycle exports.
pub fn plugin(body: &str) -> String {
    module(body, &["proxy_on_context_create", "proxy_on_vm_start", "proxy_on_configure"])
}

/// A WAT data segment at `offset` holding `text` (escaped for WAT).
pub fn data(offset: u32, text: &[u8]) -> String {
    let mut escaped = String::new();
    for b in text {
        escaped.push_str(&format!("\\{b:02x}"));
    }
    format!("(data (i32.const {offset}) \"{escaped}\")")
}

/// Writes WAT text to a fresh temp file and returns its path.
pub fn write_wat(name: &str, wat: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("gateway-host-tests-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(format!("{name}-{}.wat", unique()));
    std::fs::write(&path, wat).unwrap();
    path
}

fn unique() -> u64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static N: AtomicU64 = AtomicU64::new(0);
    N.fetch_add(1, Ordering::Relaxed)
}

pub fn plugin_config(name: &str, wasm: PathBuf) -> PluginConfig {
    PluginConfig {
        name: name.to_string(),
        wasm,
        root_id: String::new(),
        config: serde_json::Value::Null,
        vm_config: String::new(),
    }
}

pub fn cluster(name: &str, endpoint: &str) -> ClusterConfig {
    ClusterConfig {
        name: name.to_string(),
        endpoints: vec![endpoint.to_string()],
        connect_timeout_ms: 1000,
        timeout_ms: 15_000,
    }
}

pub fn route(name: &str, prefix: &str, cluster: &str, filters: &[&str]) -> RouteConfig {
    RouteConfig {
        name: name.to_string(),
        domains: Vec::new(),
        prefix: prefix.to_string(),
        cluster: Some(cluster.to_string()),
        direct_response: None,
        filters: Some(filters.iter().map(|s| s.to_string()).collect()),
    }
}

/// One listener on port 0, `concurrency` 1, debug logs captured.
pub fn config(routes: Vec<RouteConfig>, clusters: Vec<ClusterConfig>, plugins: Vec<PluginConfig>) -> GatewayConfig {
    let mut c = GatewayConfig::new();
    c.log_level = "debug".to_string();
    c.listeners[0].routes = routes;
    c.clusters = clusters;
    c.plugins = plugins;
    c
}

/// A started gateway with one route `main` (`/`) through plugin `name` (module `wasm`) to the
/// cluster `backend` at `upstream`.
pub fn one_plugin_gateway(name: &str, wasm: PathBuf, upstream: &gateway_host::testing::TestUpstream) -> Gateway {
    Gateway::start(config(
        vec![route("main", "/", "backend", &[name])],
        vec![cluster("backend", &upstream.addr())],
        vec![plugin_config(name, wasm)],
    ))
    .unwrap()
}

/// A port nothing listens on.
pub fn closed_port_addr() -> String {
    format!("127.0.0.1:{}", gateway_host::testing::free_port())
}
