//! Quota windows: a length in seconds and the quota allowed in it, and the algorithm that
//! counts them (`fixed` epoch-aligned windows or `sliding` windows).

use super::calendar::{CalendarUnit, Period, Zone};
use gateway_sdk::config::{ConfigError, ConfigPath};

/// Longest window accepted: one year (anything longer is a typo rather than a rate).
pub const MAX_WINDOW_SECONDS: u64 = 366 * 24 * 3600;

/// How long a window lasts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Span {
    /// A fixed number of seconds (epoch-aligned for `fixed`, rolling for `sliding`).
    Seconds(u64),
    /// A calendar period in a time zone (always counted per period, whatever the algorithm).
    Calendar(CalendarUnit, Zone),
}

/// One quota window: at most `quota` units per span.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Window {
    /// The window's length.
    pub span: Span,
    /// Units allowed per window (at least 1).
    pub quota: u64,
}

impl Window {
    /// A window of `quota` units per `seconds`.
    pub fn new(seconds: u64, quota: u64) -> Self {
        Window { span: Span::Seconds(seconds), quota }
    }

    /// A window of `quota` units per calendar `unit` in `zone`.
    pub fn calendar(unit: CalendarUnit, zone: Zone, quota: u64) -> Self {
        Window { span: Span::Calendar(unit, zone), quota }
    }

    /// The window's length in seconds: exact for second spans, typical for calendar ones
    /// (used to order windows; periods come from [`Window::period`]).
    pub fn seconds(&self) -> u64 {
        match &self.span {
            Span::Seconds(s) => *s,
            Span::Calendar(unit, _) => unit.nominal_seconds(),
        }
    }

    /// The window's length in milliseconds (typical for calendar windows).
    pub fn millis(&self) -> u64 {
        self.seconds().saturating_mul(1000)
    }

    /// Whether this is a calendar window.
    pub fn is_calendar(&self) -> bool {
        matches!(self.span, Span::Calendar(..))
    }

    /// A short policy name used in the `RateLimit` fields: `1s`, `1m`, `1h`, `1d`, else
    /// `<n>s`, `<n>m`, `<n>h` or `<n>d` for whole multiples; `day`, `month` or `year` for
    /// calendar windows.
    pub fn name(&self) -> String {
        let mut out = String::with_capacity(8);
        self.push_name(&mut out);
        out
    }

    /// Appends [`Window::name`] to `out` (built by hand: it is on every request's path).
    pub(crate) fn push_name(&self, out: &mut String) {
        let s = match &self.span {
            Span::Seconds(s) => *s,
            Span::Calendar(unit, _) => return out.push_str(unit.as_str()),
        };
        let (n, suffix) = if s.is_multiple_of(86_400) {
            (s / 86_400, 'd')
        } else if s.is_multiple_of(3600) {
            (s / 3600, 'h')
        } else if s.is_multiple_of(60) {
            (s / 60, 'm')
        } else {
            (s, 's')
        };
        push_u64(out, n);
        out.push(suffix);
    }

    /// The part of a counter's key that names the window: its seconds, or the calendar unit.
    pub fn key_name(&self) -> String {
        match &self.span {
            Span::Seconds(s) => {
                // Room for the `:<period>` the counter's key appends (no reallocation there).
                let mut out = String::with_capacity(32);
                push_u64(&mut out, *s);
                out
            }
            Span::Calendar(unit, _) => unit.as_str().to_string(),
        }
    }

    /// The fixed period holding `now_ms`: for second spans, the epoch-aligned window (named by
    /// its index since the epoch); for calendar spans, the local day, month or year (named
    /// `2026-11-27`, `2026-11`, `2026`). An instant a calendar cannot place (beyond year
    /// 9998) falls back to epoch-aligned periods of the typical length.
    pub fn period(&self, now_ms: u64) -> Period {
        if let Span::Calendar(unit, zone) = &self.span
            && let Some(period) = zone.period(*unit, now_ms)
        {
            return period;
        }
        let len = self.millis().max(1);
        let index = now_ms / len;
        let start_ms = index.saturating_mul(len);
        let mut name = String::with_capacity(20);
        push_u64(&mut name, index);
        Period { name, start_ms, end_ms: start_ms.saturating_add(len) }
    }

    /// Builds the windows of one configuration entry from `(field name, seconds, value)`
    /// triples, e.g. `("query_per_minute", 60, Some(100))`, plus extra windows. Every given
    /// value must be positive; at least one window must result, and no two may have the same
    /// span. `at` is the entry's path. The windows come back sorted by length.
    pub fn from_fields(
        fields: &[(&str, u64, Option<i64>)],
        extra: &[Window],
        at: &ConfigPath,
    ) -> Result<Vec<Window>, ConfigError> {
        let mut windows = Vec::new();
        for (name, seconds, value) in fields {
            if let Some(v) = value {
                let quota =
                    positive(*v).ok_or_else(|| at.field(name).error(format!("must be a positive integer, got {v}")))?;
                windows.push(Window::new(*seconds, quota));
            }
        }
        windows.extend_from_slice(extra);
        if windows.is_empty() {
            let names: Vec<&str> = fields.iter().map(|(n, _, _)| *n).collect();
            return Err(at.error(format!("no window: set at least one of {}", names.join(", "))));
        }
        for (i, w) in windows.iter().enumerate() {
            if windows.iter().take(i).any(|o| o.span == w.span) {
                return Err(at.error(format!("two windows of {}; give each window length once", w.name())));
            }
        }
        // A handful of windows, sorted once at configure time: a stable insertion sort, which
        // costs a few dozen bytes where `sort_by_key` links core's 8 KB merge sort.
        for i in 1..windows.len() {
            let mut j = i;
            while j > 0
                && (windows[j - 1].seconds(), windows[j - 1].is_calendar())
                    > (windows[j].seconds(), windows[j].is_calendar())
            {
                windows.swap(j - 1, j);
                j -= 1;
            }
        }
        Ok(windows)
    }
}

pub(crate) fn positive(v: i64) -> Option<u64> {
    u64::try_from(v).ok().filter(|&q| q > 0)
}

gateway_sdk::config_struct! {
    /// A custom window in configuration: `{"seconds": 10, "quota": 100}`.
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    pub struct WindowConfig {
        /// Window length in seconds.
        pub seconds: i64,
        /// Units allowed per window.
        pub quota: i64,
    }
}

impl WindowConfig {
    /// Validates a list of custom windows; `at` is the path of the list.
    pub fn compile_all(list: &[WindowConfig], at: &ConfigPath) -> Result<Vec<Window>, ConfigError> {
        list.iter()
            .enumerate()
            .map(|(i, w)| {
                let here = at.index(i);
                let seconds = positive(w.seconds).filter(|&s| s <= MAX_WINDOW_SECONDS).ok_or_else(|| {
                    here.field("seconds").error(format!("must be between 1 and {MAX_WINDOW_SECONDS}"))
                })?;
                let quota = positive(w.quota)
                    .ok_or_else(|| here.field("quota").error(format!("must be a positive integer, got {}", w.quota)))?;
                Ok(Window::new(seconds, quota))
            })
            .collect()
    }
}

/// How windows are counted.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Algorithm {
    /// Windows aligned to the Unix epoch (a minute window runs from :00 to :59). Exact per
    /// window; a client can send up to twice the quota across a boundary.
    #[default]
    Fixed,
    /// A rolling window counted in [`SLIDING_BUCKETS`] sub-buckets per window. Conservative:
    /// no span of the window's length ever admits more than the quota, and a request may be
    /// rejected early by at most the units charged in one sub-bucket (a tenth of the window).
    Sliding,
}

impl gateway_sdk::config::FromConfig for Algorithm {
    fn from_config(node: gateway_sdk::config::ConfigNode<'_>) -> Result<Self, ConfigError> {
        node.variant(&[("fixed", Algorithm::Fixed), ("sliding", Algorithm::Sliding)])
    }
}

/// Sub-buckets per sliding window.
pub const SLIDING_BUCKETS: u64 = 10;

pub(crate) use gateway_sdk::decimal::{decimal, push_u64, signed_decimal};

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_windows_by_their_unit() {
        assert_eq!(Window::new(1, 1).name(), "1s");
        assert_eq!(Window::new(60, 1).name(), "1m");
        assert_eq!(Window::new(7200, 1).name(), "2h");
        assert_eq!(Window::new(86_400, 1).name(), "1d");
        assert_eq!(Window::new(90, 1).name(), "90s");
        for n in [0, 7, 10, 99, 100, 12_345, u64::MAX] {
            let mut out = String::from("x");
            push_u64(&mut out, n);
            assert_eq!(out, format!("x{n}"));
        }
    }

    #[test]
    fn builds_windows_from_fields_and_names_bad_ones() {
        let at = ConfigPath::root("p").field("global_threshold");
        let w = Window::from_fields(&[("qps", 1, Some(10)), ("qph", 3600, Some(1000))], &[], &at).unwrap();
        assert_eq!(w, [Window::new(1, 10), Window::new(3600, 1000)]);
        let err = Window::from_fields(&[("qps", 1, Some(0))], &[], &at).unwrap_err();
        assert_eq!(err.path, "global_threshold.qps");
        let err = Window::from_fields(&[("qps", 1, Some(-3))], &[], &at).unwrap_err();
        assert_eq!(err.path, "global_threshold.qps");
        let err = Window::from_fields(&[("qps", 1, None)], &[], &at).unwrap_err();
        assert_eq!(err.path, "global_threshold");
        assert!(err.message.contains("no window"), "{err}");
        let err = Window::from_fields(&[("qps", 1, Some(1))], &[Window::new(1, 5)], &at).unwrap_err();
        assert!(err.message.contains("two windows"), "{err}");
    }

    #[test]
    fn custom_windows_are_validated() {
        let at = ConfigPath::root("p").field("windows");
        let ok = WindowConfig::compile_all(&[WindowConfig { seconds: 2, quota: 5 }], &at).unwrap();
        assert_eq!(ok, [Window::new(2, 5)]);
        let err = WindowConfig::compile_all(&[WindowConfig { seconds: 0, quota: 5 }], &at).unwrap_err();
        assert_eq!(err.path, "windows[0].seconds");
        let err = WindowConfig::compile_all(&[WindowConfig { seconds: 1, quota: -1 }], &at).unwrap_err();
        assert_eq!(err.path, "windows[0].quota");
    }
}
