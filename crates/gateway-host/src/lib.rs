//! A proxy-wasm host on wasmtime with Higress's Redis extension: runs compiled plugins end to
//! end behind an HTTP/1.1 gateway, against real Redis servers and real HTTP upstreams.
//!
//! Start one with [`Gateway::start`] from a [`GatewayConfig`]; see `docs/gateway-host.md`.

pub mod abi;
pub mod config;
mod gateway;
mod hostcalls;
pub mod http;
pub mod redis;
pub mod shared;
#[cfg(feature = "testing")]
pub mod testing;
pub mod vm;
mod worker;

pub use config::{ClusterConfig, DirectResponse, GatewayConfig, ListenerConfig, PluginConfig, RouteConfig};
pub use gateway::Gateway;
pub use shared::{FuelStats, LogRecord, Metric};
