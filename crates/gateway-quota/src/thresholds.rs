//! The window fields of a limiter's configuration, shared by every limiter: Higress's
//! `<unit>_per_second | _minute | _hour | _day`, our `windows` list, and the calendar quota
//! object `<unit>_quota` (`each_day`, `each_month`, `each_year`), where `<unit>` is `query`
//! for request limits and `token` for token budgets.
//!
//! [`Thresholds`] is `global_threshold`; [`LimitKey`] is one `limit_keys` entry (a `key` plus
//! the same fields). Both reject unknown fields, naming the ones accepted.

use std::marker::PhantomData;

use super::calendar::{CalendarUnit, Zone};
use super::keys::{KeyText, LimitKeyEntry};
use super::window::{Window, WindowConfig, positive};
use gateway_sdk::config::{ConfigError, ConfigNode, ConfigPath, FromConfig};

/// What a limiter counts, which names its fields.
pub trait QuotaUnit: Clone {
    /// The field prefix: `query` or `token`.
    const PREFIX: &'static str;
    /// Every field of a [`Thresholds`] object (for unknown-field errors).
    const FIELDS: &'static [&'static str];
    /// Every field of a [`LimitKey`] object.
    const KEY_FIELDS: &'static [&'static str];
}

/// Request limits: `query_per_second`, ..., `query_quota`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Requests;

impl QuotaUnit for Requests {
    const PREFIX: &'static str = "query";
    const FIELDS: &'static [&'static str] =
        &["query_per_second", "query_per_minute", "query_per_hour", "query_per_day", "query_quota", "windows"];
    const KEY_FIELDS: &'static [&'static str] =
        &["key", "query_per_second", "query_per_minute", "query_per_hour", "query_per_day", "query_quota", "windows"];
}

/// Token budgets: `token_per_second`, ..., `token_quota`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Tokens;

impl QuotaUnit for Tokens {
    const PREFIX: &'static str = "token";
    const FIELDS: &'static [&'static str] =
        &["token_per_second", "token_per_minute", "token_per_hour", "token_per_day", "token_quota", "windows"];
    const KEY_FIELDS: &'static [&'static str] =
        &["key", "token_per_second", "token_per_minute", "token_per_hour", "token_per_day", "token_quota", "windows"];
}

gateway_sdk::config_struct! {
    /// Calendar quotas: units per local day, month and year in the configuration's `timezone`.
    #[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
    pub struct CalendarQuota {
        /// Units per day (from local midnight).
        pub each_day: Option<i64> = None,
        /// Units per month (from the 1st at local midnight).
        pub each_month: Option<i64> = None,
        /// Units per year (from January 1st at local midnight).
        pub each_year: Option<i64> = None,
    }
}

/// The window fields of `global_threshold` (or of a `limit_keys` entry).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Thresholds<U> {
    /// Units per second.
    pub per_second: Option<i64>,
    /// Units per minute.
    pub per_minute: Option<i64>,
    /// Units per hour.
    pub per_hour: Option<i64>,
    /// Units per (UTC, epoch-aligned) day.
    pub per_day: Option<i64>,
    /// Windows of any length: `[{"seconds": 10, "quota": 100}]`.
    pub windows: Vec<WindowConfig>,
    /// Calendar quotas (`<unit>_quota`).
    pub calendar: Option<CalendarQuota>,
    unit: PhantomData<U>,
}

impl<U> Default for Thresholds<U> {
    fn default() -> Self {
        Thresholds {
            per_second: None,
            per_minute: None,
            per_hour: None,
            per_day: None,
            windows: Vec::new(),
            calendar: None,
            unit: PhantomData,
        }
    }
}

/// A `limit_keys` entry: the key and its windows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LimitKey<U> {
    /// Exact value, `regexp:<re>`, `*`, or an IP/CIDR for `limit_by_per_ip`.
    pub key: KeyText,
    /// The key's windows.
    pub thresholds: Thresholds<U>,
}

impl<U> LimitKeyEntry for LimitKey<U> {
    fn key(&self) -> &str {
        &self.key.0
    }
}

impl<U: QuotaUnit> Thresholds<U> {
    /// The windows, validated and sorted by length; calendar windows count in `zone`. `at` is
    /// the path of the object holding the fields.
    pub fn compile(&self, zone: &Zone, at: &ConfigPath) -> Result<Vec<Window>, ConfigError> {
        let p = U::PREFIX;
        let mut extra = WindowConfig::compile_all(&self.windows, &at.field("windows"))?;
        if let Some(calendar) = &self.calendar {
            let here = at.field(&format!("{p}_quota"));
            let units = [
                ("each_day", CalendarUnit::Day, calendar.each_day),
                ("each_month", CalendarUnit::Month, calendar.each_month),
                ("each_year", CalendarUnit::Year, calendar.each_year),
            ];
            if units.iter().all(|(_, _, v)| v.is_none()) {
                return Err(here.error("set at least one of each_day, each_month, each_year"));
            }
            for (name, unit, value) in units {
                if let Some(v) = value {
                    let quota = positive(v)
                        .ok_or_else(|| here.field(name).error(format!("must be a positive integer, got {v}")))?;
                    extra.push(Window::calendar(unit, zone.clone(), quota));
                }
            }
        }
        let fields = [
            (format!("{p}_per_second"), 1, self.per_second),
            (format!("{p}_per_minute"), 60, self.per_minute),
            (format!("{p}_per_hour"), 3600, self.per_hour),
            (format!("{p}_per_day"), 86_400, self.per_day),
        ];
        if extra.is_empty() && fields.iter().all(|(_, _, v)| v.is_none()) {
            return Err(at.error(format!("no window: set at least one of {}", U::FIELDS.join(", "))));
        }
        let fields: Vec<(&str, u64, Option<i64>)> = fields.iter().map(|(n, s, v)| (n.as_str(), *s, *v)).collect();
        Window::from_fields(&fields, &extra, at)
    }
}

impl<U: QuotaUnit> Thresholds<U> {
    /// Reads the fields of either object; `with_key` makes `key` required, else unknown.
    fn read(node: &ConfigNode<'_>, with_key: bool) -> Result<(Option<KeyText>, Self), ConfigError> {
        let expecting = format!("an object with {} fields", U::PREFIX);
        let f = node.fields(&expecting, if with_key { U::KEY_FIELDS } else { U::FIELDS })?;
        // FIELDS: the four `<unit>_per_*`, `<unit>_quota`, `windows`.
        let [second, minute, hour, day, quota, windows] = U::FIELDS else {
            return Err(node.error("internal: a quota unit lists six fields"));
        };
        let key = if with_key { Some(f.required("key")?) } else { None };
        let t = Thresholds {
            per_second: f.optional(second)?,
            per_minute: f.optional(minute)?,
            per_hour: f.optional(hour)?,
            per_day: f.optional(day)?,
            windows: f.optional(windows)?.unwrap_or_default(),
            calendar: f.optional(quota)?,
            unit: PhantomData,
        };
        Ok((key, t))
    }
}

impl<U: QuotaUnit> FromConfig for Thresholds<U> {
    fn from_config(node: ConfigNode<'_>) -> Result<Self, ConfigError> {
        Thresholds::read(&node, false).map(|(_, t)| t)
    }
}

impl<U: QuotaUnit> FromConfig for LimitKey<U> {
    fn from_config(node: ConfigNode<'_>) -> Result<Self, ConfigError> {
        match Thresholds::read(&node, true)? {
            (Some(key), thresholds) => Ok(LimitKey { key, thresholds }),
            (None, _) => Err(node.error("missing field `key`")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use gateway_sdk::config::read_at;
    use gateway_sdk::config_json as json;

    fn at() -> ConfigPath {
        ConfigPath::root("t").field("global_threshold")
    }

    fn parse<T: FromConfig>(v: gateway_sdk::config::Value) -> Result<T, ConfigError> {
        read_at(&v, &ConfigPath::root("t"))
    }

    #[test]
    fn reads_higress_fields_windows_and_calendar_quotas() {
        let t: Thresholds<Requests> = parse(json!({
            "query_per_minute": 100, "query_per_day": 5000,
            "windows": [{"seconds": 10, "quota": 20}],
            "query_quota": {"each_month": 100000}
        }))
        .unwrap();
        let zone = Zone::parse("Asia/Shanghai", &at()).unwrap();
        let windows = t.compile(&zone, &at()).unwrap();
        let names: Vec<String> = windows.iter().map(Window::name).collect();
        assert_eq!(names, ["10s", "1m", "1d", "month"]);
        assert_eq!(windows[3], Window::calendar(CalendarUnit::Month, zone, 100_000));
        let t: Thresholds<Tokens> = parse(json!({"token_per_hour": 7})).unwrap();
        assert_eq!(t.compile(&Zone::utc(), &at()).unwrap(), [Window::new(3600, 7)]);
    }

    #[test]
    fn a_calendar_day_and_a_utc_day_are_different_windows() {
        let t: Thresholds<Tokens> =
            parse(json!({"token_per_day": 10, "token_quota": {"each_day": 10, "each_year": 900}})).unwrap();
        let w = t.compile(&Zone::utc(), &at()).unwrap();
        assert_eq!(w.iter().map(Window::name).collect::<Vec<_>>(), ["1d", "day", "year"]);
    }

    #[test]
    fn unknown_fields_name_the_accepted_ones_and_the_other_unit_is_unknown() {
        let err = parse::<Thresholds<Requests>>(json!({"token_per_minute": 1})).unwrap_err();
        assert_eq!(err.path, "token_per_minute");
        assert!(err.message.contains("unknown field `token_per_minute`"), "{err}");
        assert!(err.message.contains("query_quota"), "{err}");
        let err = parse::<Thresholds<Requests>>(json!({"key": "a", "query_per_minute": 1})).unwrap_err();
        assert!(err.message.contains("unknown field `key`"), "{err}");
        let err = parse::<Thresholds<Tokens>>(json!({"token_quota": {"each_week": 1}})).unwrap_err();
        assert_eq!(err.path, "token_quota.each_week");
        assert!(err.message.contains("each_week"), "{err}");
    }

    #[test]
    fn limit_keys_need_a_key_and_take_the_same_fields() {
        let k: LimitKey<Tokens> = parse(json!({"key": 42, "token_quota": {"each_day": 5}})).unwrap();
        assert_eq!(k.key(), "42");
        assert_eq!(k.thresholds.calendar.unwrap().each_day, Some(5));
        let err = parse::<LimitKey<Tokens>>(json!({"token_per_minute": 1})).unwrap_err();
        assert!(err.message.contains("missing field `key`"), "{err}");
    }

    #[test]
    fn bad_values_are_named_by_path() {
        let compile =
            |v: gateway_sdk::config::Value| parse::<Thresholds<Requests>>(v).unwrap().compile(&Zone::utc(), &at());
        let err = compile(json!({"query_quota": {"each_month": 0}})).unwrap_err();
        assert_eq!(err.path, "global_threshold.query_quota.each_month");
        let err = compile(json!({"query_quota": {}})).unwrap_err();
        assert_eq!(err.path, "global_threshold.query_quota");
        let err = compile(json!({})).unwrap_err();
        assert_eq!(err.path, "global_threshold");
        assert!(err.message.contains("query_quota"), "{err}");
        let err = compile(json!({"query_per_second": -1})).unwrap_err();
        assert_eq!(err.path, "global_threshold.query_per_second");
        let err = compile(json!({"windows": [{"seconds": 86400, "quota": 1}], "query_per_day": 1})).unwrap_err();
        assert!(err.message.contains("two windows of 1d"), "{err}");
    }
}
