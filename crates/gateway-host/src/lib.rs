//! A proxy-wasm host on wasmtime with Higress's Redis extension: runs compiled plugins end to
//! end behind an HTTP/1.1 gateway, against real Redis servers and real HTTP upstreams.
//!
//! Start one with [`Gateway::start`] from a [`GatewayConfig`]; see `docs/gateway-host.md`.
//!
//! The modules form a one-way stack (each imports only from the layers below it; the test
//! `tests/module_graph.rs` keeps it so):
//!
//! 1. values: `values` (plain data), `abi` (ABI numbers), `config`, `body` (HTTP bodies),
//!    `profile` (the fuel profile's module rewriter, counters and report)
//! 2. services: `services` (Redis pool, upstream clients and clusters, shared state)
//! 3. VM state: `state` (the `Store` data), `memory` (guest memory access)
//! 4. host calls: `hostcalls`
//! 5. VM: `vm` (one plugin instance, its per-worker slot)
//! 6. HTTP: `http` (listeners, streams through filter chains, replies, admin)
//! 7. `worker` (threads wiring the layers together), then `gateway` (the public entry point)
//!
//! Public: [`Gateway`], the config types, the records it reports, and (feature `testing`)
//! [`testing`].

mod abi;
mod body;
pub mod config;
mod gateway;
mod hostcalls;
mod http;
mod memory;
mod profile;
mod services;
mod state;
#[cfg(feature = "testing")]
pub mod testing;
mod values;
mod vm;
mod worker;

pub use config::{ClusterConfig, DirectResponse, GatewayConfig, ListenerConfig, PluginConfig, RouteConfig};
pub use gateway::Gateway;
pub use profile::{FuelProfile, FunctionProfile, PluginProfile};
pub use values::{FuelStats, LogRecord, Metric};
