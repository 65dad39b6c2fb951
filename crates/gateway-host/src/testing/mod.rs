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
mod wait;

pub use client::{HttpResponse, http_get, http_request};
pub use h2c::{H2Request, H2Response, h2c_request};
pub use plugin_build::{plugin_wasm, workspace_root};
pub use redis_cluster::{RedisCluster, RedisProxy, envoy_binary};
pub use redis_server::{RedisServer, RedisValue};
pub use upstream::{TestRequest, TestResponse, TestUpstream};
pub use wait::{free_port, wait_for};

/// Encodes header pairs in the proxy-wasm map serialization (for tests that hand maps to
/// host calls directly).
pub use crate::abi::encode_pairs;
