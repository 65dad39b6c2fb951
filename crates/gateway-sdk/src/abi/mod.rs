//! The one seam to the host: every `unsafe` block, raw import and export of the SDK lives under this module.
//!
//! `host` offers safe functions for everything the SDK asks of the proxy. On `wasm32` they call
//! the proxy-wasm ABI 0.2.1 (declared in `imports`, plus Higress's Redis extension in
//! `redis_ext`), and `exports` receives the host's callbacks; natively they act on an
//! in-process fake host used by [`crate::testing`] and by unit tests, so plugin logic can be
//! tested with plain `cargo test`.

#[cfg(target_arch = "wasm32")]
mod exports;
#[cfg(target_arch = "wasm32")]
mod imports;
#[cfg(target_arch = "wasm32")]
mod redis_ext;
// Compiled everywhere so its unit tests run natively; the global allocator only in wasm.
#[cfg_attr(not(target_arch = "wasm32"), allow(dead_code))]
mod small_alloc;

#[cfg(target_arch = "wasm32")]
#[global_allocator]
static ALLOCATOR: small_alloc::SmallBlocks = small_alloc::SmallBlocks::new();
#[cfg(target_arch = "wasm32")]
pub(crate) mod wasm_host;
#[cfg(target_arch = "wasm32")]
pub(crate) use wasm_host as host;

#[cfg(not(target_arch = "wasm32"))]
pub(crate) mod native_host;
#[cfg(not(target_arch = "wasm32"))]
pub(crate) use native_host as host;

#[cfg(target_arch = "wasm32")]
#[doc(hidden)]
pub use exports::start;

/// Which header map a call acts on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum MapKind {
    RequestHeaders,
    ResponseHeaders,
    RequestTrailers,
    ResponseTrailers,
}

/// Which body buffer a call acts on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum BodyKind {
    Request,
    Response,
}

/// Kinds of host metrics, as in the proxy-wasm ABI.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum MetricKind {
    Counter,
    Gauge,
    Histogram,
}

/// Host log levels, as in the proxy-wasm ABI.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum LogLevel {
    /// Very verbose diagnostics.
    Trace,
    /// Diagnostics useful when debugging a plugin.
    Debug,
    /// Normal operational messages.
    Info,
    /// Something unexpected that the plugin handled.
    Warn,
    /// A failure.
    Error,
}

/// Registers the plugin type `P` with the host. Expands to the module's `_initialize` export.
///
/// ```text
/// gateway_sdk::export_plugin!(MyPlugin);
/// ```
#[macro_export]
macro_rules! export_plugin {
    ($plugin:ty) => {
        #[cfg(target_arch = "wasm32")]
        #[unsafe(no_mangle)]
        pub extern "C" fn _initialize() {
            $crate::abi::start::<$plugin>();
        }
    };
}
