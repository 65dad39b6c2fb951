//! Test support for end-to-end plugin tests (feature `testing`): a real `redis-server` child
//! process, plugin builds for `wasm32-wasip1`, a scripted HTTP upstream and a small HTTP client.
//!
//! ```no_run
//! use gateway_host::testing::{RedisServer, plugin_wasm, http_get};
//! let redis = RedisServer::start().unwrap();
//! let wasm = plugin_wasm("hello-redis");
//! // build a GatewayConfig with a cluster `outbound|6379||redis.static` -> redis.addr() ...
//! ```

mod client;
mod h2c;
pub mod load;
mod plugin_build;
mod redis_cluster;
mod redis_server;
mod upstream;

pub use client::{HttpResponse, http_get, http_request};
pub use h2c::{H2Request, H2Response, h2c_request};
pub use plugin_build::{plugin_wasm, workspace_root};
pub use redis_cluster::{RedisCluster, RedisProxy, envoy_binary};
pub use redis_server::{RedisServer, RedisValue};
pub use upstream::{TestRequest, TestResponse, TestUpstream};

use std::time::{Duration, Instant};

/// A port that was free a moment ago on 127.0.0.1.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).map(|a| a.port()).unwrap_or(0)
}

/// Polls `check` until it returns `Some` or `timeout` passes.
pub fn wait_for<T>(timeout: Duration, mut check: impl FnMut() -> Option<T>) -> Option<T> {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(v) = check() {
            return Some(v);
        }
        if Instant::now() >= deadline {
            return None;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}
