//! The host's clock (`proxy_get_current_time_nanoseconds`), so tests can move time.

use std::time::{Duration, SystemTime};

use crate::abi::host;

/// The current wall-clock time as the host sees it.
pub fn now() -> SystemTime {
    host::now()
}

/// Milliseconds since the Unix epoch, per the host's clock.
pub fn now_millis() -> u64 {
    now().duration_since(SystemTime::UNIX_EPOCH).unwrap_or(Duration::ZERO).as_millis().try_into().unwrap_or(u64::MAX)
}
