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

/// How often a throttled cause may log: the first occurrence logs at once, later ones are
/// counted and summarised in the next line this long after the last.
pub const THROTTLE_INTERVAL_MS: u64 = 10_000;

/// Per cause: when it last logged and how many occurrences were held back since.
#[derive(Default)]
struct Throttle {
    last_ms: Option<u64>,
    held_back: u64,
}

thread_local! {
    static THROTTLES: std::cell::RefCell<crate::vec_map::VecMap<String, Throttle>> =
        const { std::cell::RefCell::new(crate::vec_map::VecMap::new()) };
}

/// Logs `args` for `cause` at most once per [`THROTTLE_INTERVAL_MS`] (per VM): the first
/// occurrence at once, then one line per interval saying how many occurrences it stands for.
/// For messages on the request path whose cause repeats on every request (a wrong Redis
/// password, an unreachable service), so a misconfiguration costs a few lines, not a log
/// outage. Returns whether a line was written.
pub fn throttled(level: LogLevel, cause: &str, args: fmt::Arguments<'_>) -> bool {
    let now = crate::time::now_millis();
    let held_back = THROTTLES.with(|t| {
        let mut t = t.borrow_mut();
        // Look up before inserting: the request path must not allocate once a cause is known.
        if t.get(cause).is_none() {
            t.insert(cause.to_string(), Throttle::default());
        }
        let entry = t.get_mut(cause)?;
        match entry.last_ms {
            Some(last) if now < last.saturating_add(THROTTLE_INTERVAL_MS) => {
                entry.held_back += 1;
                None
            }
            _ => {
                entry.last_ms = Some(now);
                Some(std::mem::take(&mut entry.held_back))
            }
        }
    });
    match held_back {
        None => false,
        Some(0) => {
            write_log(level, args);
            true
        }
        Some(n) => {
            write_log(level, format_args!("{args} ({n} more like this since the last report)"));
            true
        }
    }
}

/// Logs at warn level at most once per [`THROTTLE_INTERVAL_MS`] for a cause:
/// `gateway_sdk::warn_throttled!("redis:auth", "Redis refused: {e}")`.
#[macro_export]
macro_rules! warn_throttled {
    ($cause:expr, $($arg:tt)*) => {
        $crate::log::throttled($crate::log::LogLevel::Warn, $cause, format_args!($($arg)*))
    };
}
