//! # gateway-sdk
//!
//! Write Higress (Envoy + proxy-wasm) filters as `async` Rust, with a Redis client that rides
//! Higress's Redis host calls.
//!
//! - Implement [`Plugin`] (your configuration, compiled once per worker) and [`HttpFilter`]
//!   (per-request state with `async` hooks), then `export_plugin!(YourPlugin)`.
//! - In a hook, `.await` [`redis::RedisClient`] commands, [`redis::Script`]s or
//!   [`http_call`]s: the stream pauses while the hook is pending and resumes (or answers with
//!   the [`Response`] the hook returned) when it completes.
//! - Configuration follows Higress: a global object plus `_rules_` matched by route, domain,
//!   service or route prefix ([`config::rules`]); errors name the field path ([`ConfigError`]).
//! - The `testing` feature adds [`testing::TestHost`], a native fake host for unit tests.
//!
//! All raw ABI access and every `unsafe` block live in the `abi` module.

// Natively without `testing`, the driver exists only so plugin crates compile and unit-test.
#![cfg_attr(not(any(target_arch = "wasm32", feature = "testing")), allow(dead_code))]
#![warn(missing_docs)]

#[doc(hidden)]
pub mod abi;
pub mod breaker;
pub mod config;
mod context;
pub mod decimal;
mod driver;
pub mod http_call;
mod id_map;
pub mod log;
pub mod metrics;
mod plugin;
pub mod redis;
mod response;
mod runtime;
pub mod task;
#[cfg(all(feature = "testing", not(target_arch = "wasm32")))]
pub mod testing;
pub mod time;
mod vec_map;
mod worker;

pub use config::{ConfigError, ConfigPath, Secret};
pub use context::{Body, HttpContext, parse_ip};
pub use futures_util::future::{join, join_all};
pub use http_call::{HttpCall, HttpCallError, HttpCallResponse, http_call};
pub use plugin::{BodyMode, Flow, HttpFilter, Plugin, Shared};
pub use response::Response;
pub use task::spawn;
pub use worker::WorkerState;

/// Everything a plugin usually needs: `use gateway_sdk::prelude::*;`.
pub mod prelude {
    pub use crate::config::{ConfigError, ConfigNode, ConfigPath, FromConfig, Secret};
    pub use crate::redis::{RedisClient, RedisConfig, RedisError, Reply, Script, SetOptions};
    pub use crate::{Body, BodyMode, Flow, HttpContext, HttpFilter, Plugin, Response, Shared};
    pub use crate::{config_struct, export_plugin, join};
}
