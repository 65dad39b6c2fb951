//! The host's clock (`proxy_get_current_time_nanoseconds`), so tests can move time, and
//! [`sleep`], which the host's tick (`proxy_on_tick`) ends.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::{Duration, SystemTime};

use crate::abi::host;
use crate::runtime;

/// The current wall-clock time as the host sees it.
pub fn now() -> SystemTime {
    host::now()
}

/// Milliseconds since the Unix epoch, per the host's clock.
pub fn now_millis() -> u64 {
    now().duration_since(SystemTime::UNIX_EPOCH).unwrap_or(Duration::ZERO).as_millis().try_into().unwrap_or(u64::MAX)
}

/// Waits `duration` without blocking the VM: the hook's stream stays paused and other
/// requests run meanwhile. While any hook sleeps the SDK asks the host for a tick every
/// 10 ms (`proxy_set_tick_period_milliseconds`) and turns it off when none does, so a sleep
/// ends on the first tick at or after its deadline (up to 10 ms late). Use it to back off
/// between polls of Redis instead of calling it back to back.
///
/// ```text
/// gateway_sdk::time::sleep(Duration::from_millis(20)).await;
/// ```
pub fn sleep(duration: Duration) -> Sleep {
    let ms = u64::try_from(duration.as_millis()).unwrap_or(u64::MAX);
    Sleep { deadline_ms: now_millis().saturating_add(ms), timer: runtime::TimerSlot::new() }
}

/// The future returned by [`sleep`].
#[derive(Debug)]
#[must_use = "a sleep does nothing unless awaited"]
pub struct Sleep {
    deadline_ms: u64,
    timer: runtime::TimerSlot,
}

impl Sleep {
    /// When the sleep ends, in milliseconds since the Unix epoch (host clock).
    pub fn deadline_ms(&self) -> u64 {
        self.deadline_ms
    }
}

impl Future for Sleep {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let deadline_ms = self.deadline_ms;
        if now_millis() >= deadline_ms || self.timer.poll_fired(deadline_ms, cx) {
            return Poll::Ready(());
        }
        Poll::Pending
    }
}
