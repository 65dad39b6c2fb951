//! Response headers that tell clients about their quota: the IETF draft fields
//! (draft-ietf-httpapi-ratelimit-headers) `RateLimit-Policy` (`"1m";q=100;w=60`) and
//! `RateLimit` (`"1m";r=42;t=17`), `Retry-After` on rejections (never earlier than `t`), and
//! Higress's `X-RateLimit-Limit` / `X-RateLimit-Remaining` / `X-RateLimit-Reset`.

use super::store::{Outcome, WindowStatus};
use super::window::{decimal, push_u64};

/// The `RateLimit-Policy` field name.
pub const RATELIMIT_POLICY: &str = "ratelimit-policy";
/// The `RateLimit` field name.
pub const RATELIMIT: &str = "ratelimit";
/// The `Retry-After` field name.
pub const RETRY_AFTER: &str = "retry-after";
/// Higress's limit header.
pub const X_RATELIMIT_LIMIT: &str = "x-ratelimit-limit";
/// Higress's remaining header.
pub const X_RATELIMIT_REMAINING: &str = "x-ratelimit-remaining";
/// Higress's reset header (seconds; sent on rejections).
pub const X_RATELIMIT_RESET: &str = "x-ratelimit-reset";

/// Which headers to produce.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HeaderOptions {
    /// The IETF `RateLimit-Policy` and `RateLimit` fields.
    pub ietf: bool,
    /// Higress's `X-RateLimit-Limit` and `X-RateLimit-Remaining`.
    pub higress: bool,
    /// The quota unit (`qu`) when not requests, e.g. `"tokens"`.
    pub unit: Option<&'static str>,
}

impl Default for HeaderOptions {
    fn default() -> Self {
        HeaderOptions { ietf: true, higress: false, unit: None }
    }
}

/// `RateLimit-Policy`: one item per window, e.g. `"1s";q=10;w=1, "1h";q=1000;w=3600`.
pub fn policy_field(windows: &[WindowStatus], unit: Option<&str>) -> String {
    let unit = unit.map(sf_string);
    items(windows, |out, w| {
        out.push_str(";q=");
        push_u64(out, w.window.quota);
        if let Some(u) = &unit {
            out.push_str(";qu=\"");
            out.push_str(u);
            out.push('"');
        }
        out.push_str(";w=");
        push_u64(out, w.period_ms / 1000);
    })
}

/// `RateLimit`: one item per window with `r` (remaining) and `t` (seconds until reset).
pub fn ratelimit_field(windows: &[WindowStatus]) -> String {
    items(windows, |out, w| {
        out.push_str(";r=");
        push_u64(out, w.remaining());
        out.push_str(";t=");
        push_u64(out, w.reset_seconds());
    })
}

/// A structured-field list: per window `"<name>"` followed by what `params` writes, joined
/// with `, `.
fn items(windows: &[WindowStatus], mut params: impl FnMut(&mut String, &WindowStatus)) -> String {
    let mut out = String::with_capacity(32 * windows.len());
    for (i, w) in windows.iter().enumerate() {
        if i > 0 {
            out.push_str(", ");
        }
        out.push('"');
        w.window.push_name(&mut out);
        out.push('"');
        params(&mut out, w);
    }
    out
}

/// `Retry-After` seconds for a rejection: the largest `t` among the windows that are full,
/// so it is never earlier than the `t` of the window that rejected. At least 1.
pub fn retry_after_seconds(outcome: &Outcome) -> u64 {
    let rejecting = outcome.rejected_by.and_then(|i| outcome.windows.get(i)).map_or(0, WindowStatus::reset_seconds);
    let full =
        outcome.windows.iter().filter(|w| w.remaining() == 0).map(WindowStatus::reset_seconds).max().unwrap_or(0);
    rejecting.max(full).max(1)
}

/// Headers for an admitted request's response.
pub fn admitted_headers(outcome: &Outcome, options: HeaderOptions) -> Vec<(String, String)> {
    let mut out = Vec::new();
    if options.ietf && !outcome.windows.is_empty() {
        out.push((RATELIMIT_POLICY.to_string(), policy_field(&outcome.windows, options.unit)));
        out.push((RATELIMIT.to_string(), ratelimit_field(&outcome.windows)));
    }
    if let Some(w) = outcome.tightest().filter(|_| options.higress) {
        out.push((X_RATELIMIT_LIMIT.to_string(), decimal(w.window.quota)));
        out.push((X_RATELIMIT_REMAINING.to_string(), decimal(w.remaining())));
    }
    out
}

/// Headers for a rejection: as for an admitted request plus `Retry-After` and Higress's
/// `X-RateLimit-Reset` (Higress sends that one on every rejection).
pub fn rejected_headers(outcome: &Outcome, options: HeaderOptions) -> Vec<(String, String)> {
    let mut out = admitted_headers(outcome, options);
    let retry = retry_after_seconds(outcome);
    out.push((RETRY_AFTER.to_string(), decimal(retry)));
    out.push((X_RATELIMIT_RESET.to_string(), decimal(higress_reset_seconds(outcome))));
    out
}

/// `X-RateLimit-Reset` as Higress computes it: the Redis `TTL` of the counter that rejected,
/// which is the time left in its window, in seconds rounded to the nearest (Redis's `TTL`
/// rounding of the key's milliseconds). Higress has one window per key; with several, the
/// rejecting one (else the tightest). `Retry-After` is the conservative field next to it.
pub fn higress_reset_seconds(outcome: &Outcome) -> u64 {
    let window = outcome.rejected_by.and_then(|i| outcome.windows.get(i)).or_else(|| outcome.tightest());
    window.map_or(0, |w| w.reset_ms.saturating_add(500) / 1000)
}

/// Escapes a structured-field string's content (`"` and `\`), dropping non-printable ASCII.
fn sf_string(s: &str) -> String {
    s.chars()
        .filter(|c| (' '..='~').contains(c))
        .flat_map(|c| if c == '"' || c == '\\' { vec!['\\', c] } else { vec![c] })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Window;

    fn status(seconds: u64, quota: u64, used: u64, reset_ms: u64) -> WindowStatus {
        WindowStatus { window: Window::new(seconds, quota), period_ms: seconds * 1000, used, reset_ms }
    }

    #[test]
    fn fields_list_every_window() {
        let w = [status(1, 10, 3, 400), status(3600, 1000, 3, 1_000_001)];
        assert_eq!(policy_field(&w, None), "\"1s\";q=10;w=1, \"1h\";q=1000;w=3600");
        assert_eq!(policy_field(&w[..1], Some("tokens")), "\"1s\";q=10;qu=\"tokens\";w=1");
        assert_eq!(ratelimit_field(&w), "\"1s\";r=7;t=1, \"1h\";r=997;t=1001");
    }

    #[test]
    fn retry_after_is_never_before_the_rejecting_reset() {
        let outcome = Outcome {
            admitted: false,
            rejected_by: Some(1),
            windows: vec![status(1, 10, 10, 100), status(60, 100, 100, 30_500)],
            reservation: None,
        };
        assert_eq!(retry_after_seconds(&outcome), 31);
        let h = rejected_headers(&outcome, HeaderOptions { ietf: true, higress: true, unit: None });
        let get = |n: &str| h.iter().find(|(k, _)| k == n).map(|(_, v)| v.as_str());
        assert_eq!(get(RETRY_AFTER), Some("31"));
        // Redis's TTL of the rejecting minute counter (30.5 s rounds to 31; 30.4 s would be 30).
        assert_eq!(get(X_RATELIMIT_RESET), Some("31"));
        let mut sooner = outcome.clone();
        sooner.windows[1].reset_ms = 30_400;
        assert_eq!(higress_reset_seconds(&sooner), 30);
        assert_eq!(retry_after_seconds(&sooner), 31, "Retry-After never earlier than the reset");
        assert_eq!(get(X_RATELIMIT_LIMIT), Some("100"));
        assert_eq!(get(X_RATELIMIT_REMAINING), Some("0"));
        assert_eq!(get(RATELIMIT), Some("\"1s\";r=0;t=1, \"1m\";r=0;t=31"));
    }

    #[test]
    fn calendar_windows_are_named_by_unit_with_the_current_period_length() {
        use crate::{CalendarUnit, Zone};
        let november = WindowStatus {
            window: Window::calendar(CalendarUnit::Month, Zone::utc(), 1_000_000),
            period_ms: 30 * 86_400_000,
            used: 400_000,
            reset_ms: 86_399_500,
        };
        assert_eq!(
            policy_field(std::slice::from_ref(&november), Some("tokens")),
            "\"month\";q=1000000;qu=\"tokens\";w=2592000"
        );
        assert_eq!(ratelimit_field(&[november]), "\"month\";r=600000;t=86400");
    }

    #[test]
    fn units_are_escaped() {
        assert_eq!(sf_string("a\"b\\c\u{1}"), "a\\\"b\\\\c");
    }
}
