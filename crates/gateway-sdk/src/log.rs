//! Logging through the host's log (Envoy's `wasm` logger), with `format!`-style macros.

use std::fmt;

pub use crate::abi::LogLevel;
use crate::abi::host;

/// Writes one log line at `level` (used by the [`crate::info!`] family of macros).
pub fn write_log(level: LogLevel, args: fmt::Arguments<'_>) {
    match args.as_str() {
        Some(s) => host::log(level, s),
        None => host::log(level, &args.to_string()),
    }
}

/// Logs at trace level: `gateway_sdk::trace!("x = {}", x)`.
#[macro_export]
macro_rules! trace {
    ($($arg:tt)*) => { $crate::log::write_log($crate::log::LogLevel::Trace, format_args!($($arg)*)) };
}

/// Logs at debug level: `gateway_sdk::debug!("x = {}", x)`.
#[macro_export]
macro_rules! debug {
    ($($arg:tt)*) => { $crate::log::write_log($crate::log::LogLevel::Debug, format_args!($($arg)*)) };
}

/// Logs at info level: `gateway_sdk::info!("x = {}", x)`.
#[macro_export]
macro_rules! info {
    ($($arg:tt)*) => { $crate::log::write_log($crate::log::LogLevel::Info, format_args!($($arg)*)) };
}

/// Logs at warn level: `gateway_sdk::warn!("x = {}", x)`.
#[macro_export]
macro_rules! warn {
    ($($arg:tt)*) => { $crate::log::write_log($crate::log::LogLevel::Warn, format_args!($($arg)*)) };
}

/// Logs at error level: `gateway_sdk::error!("x = {}", x)`.
#[macro_export]
macro_rules! error {
    ($($arg:tt)*) => { $crate::log::write_log($crate::log::LogLevel::Error, format_args!($($arg)*)) };
}
