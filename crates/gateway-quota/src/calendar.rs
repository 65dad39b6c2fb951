//! Calendar periods (day, month, year) in an IANA time zone: where the period holding an
//! instant starts and ends, daylight-saving changes included, and its name for Redis keys.
//!
//! The zone rules are compiled into the module, so a plugin computes the same boundaries in
//! Higress, in Envoy and in `gateway-host`, without reading the host's `/usr/share/zoneinfo`.
//! They are generated from the IANA database by `cargo xtask tzdata` into [`tzdata`]: per zone
//! the offsets from 2026 on and the POSIX rule that continues them, evaluated by [`tz`].
//! Instants before 2026 follow the zone's 2026 state (the gateway's clock never goes there).
//! Updating the rules means regenerating and rebuilding the plugin.

mod tz;
#[rustfmt::skip]
mod tzdata;

use std::fmt;

use tz::{DAY, ZoneRules};

use gateway_sdk::config::{ConfigError, ConfigPath};

/// The zone used when a configuration names none.
pub const DEFAULT_TIMEZONE: &str = "UTC";

/// A calendar unit a quota can reset on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum CalendarUnit {
    /// From local midnight to the next local midnight (23, 24 or 25 hours).
    Day,
    /// From the 1st at local midnight to the next month's 1st.
    Month,
    /// From January 1st at local midnight to the next January 1st.
    Year,
}

impl CalendarUnit {
    /// The unit's name: `day`, `month` or `year` (also the policy name in `RateLimit` fields).
    pub fn as_str(self) -> &'static str {
        match self {
            CalendarUnit::Day => "day",
            CalendarUnit::Month => "month",
            CalendarUnit::Year => "year",
        }
    }

    /// A typical length in seconds (for ordering windows; never for boundaries).
    pub fn nominal_seconds(self) -> u64 {
        match self {
            CalendarUnit::Day => 86_400,
            CalendarUnit::Month => 2_629_746,
            CalendarUnit::Year => 31_556_952,
        }
    }
}

impl fmt::Display for CalendarUnit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An IANA time zone, validated at configure time.
#[derive(Clone)]
pub struct Zone {
    name: String,
    rules: &'static ZoneRules,
}

impl fmt::Debug for Zone {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Zone({})", self.name)
    }
}

impl PartialEq for Zone {
    fn eq(&self, other: &Self) -> bool {
        self.name == other.name
    }
}

impl Eq for Zone {}

impl Default for Zone {
    fn default() -> Self {
        Zone::utc()
    }
}

/// One calendar period: `[start_ms, end_ms)` in milliseconds since the Unix epoch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Period {
    /// The period's local name: `2026-11-27`, `2026-11` or `2026`.
    pub name: String,
    /// First millisecond of the period.
    pub start_ms: u64,
    /// First millisecond of the next period.
    pub end_ms: u64,
}

impl Period {
    /// The period's length in milliseconds.
    pub fn length_ms(&self) -> u64 {
        self.end_ms.saturating_sub(self.start_ms)
    }
}

/// The UTC zone's rules (also what `Zone::default()` holds).
static UTC_RULES: ZoneRules = ZoneRules::new(0, &[], i64::MIN, tz::Rule::fixed(0));

/// The last millisecond periods are computed for (9999-12-30T22:00:00.999Z, as jiff's `Timestamp`).
const MAX_MS: i64 = 253_402_207_200_999;

/// Looks `name` up in the generated table, ignoring ASCII case as the tz database does.
fn lookup(name: &str) -> Option<&'static ZoneRules> {
    fn lower(s: &str) -> impl Iterator<Item = u8> + '_ {
        s.bytes().map(|b| b.to_ascii_lowercase())
    }
    let name_at = |i: usize| {
        let start = if i == 0 { 0 } else { usize::from(tzdata::NAME_ENDS[i - 1]) };
        tzdata::NAME_TEXT.get(start..usize::from(tzdata::NAME_ENDS[i])).unwrap_or_default()
    };
    let (mut low, mut high) = (0, tzdata::NAME_ENDS.len());
    while low < high {
        let mid = low + (high - low) / 2;
        match lower(name_at(mid)).cmp(lower(name)) {
            std::cmp::Ordering::Less => low = mid + 1,
            std::cmp::Ordering::Greater => high = mid,
            std::cmp::Ordering::Equal => return tzdata::ZONES.get(usize::from(*tzdata::NAME_ZONES.get(mid)?)),
        }
    }
    None
}

/// Appends `n` to `out` with at least `width` digits (no formatting machinery on this path).
fn push_padded(out: &mut String, n: u32, width: usize) {
    let mut digits = [0u8; 10];
    let mut len = 0;
    let mut rest = n;
    for slot in &mut digits {
        *slot = b'0' + (rest % 10) as u8;
        rest /= 10;
        len += 1;
        if rest == 0 && len >= width {
            break;
        }
    }
    out.extend(digits.iter().take(len).rev().map(|&d| char::from(d)));
}

impl Zone {
    /// Coordinated Universal Time.
    pub fn utc() -> Self {
        Zone { name: DEFAULT_TIMEZONE.to_string(), rules: &UTC_RULES }
    }

    /// Looks up an IANA name such as `Asia/Shanghai`; `at` names the field for the error.
    pub fn parse(name: &str, at: &ConfigPath) -> Result<Self, ConfigError> {
        let trimmed = name.trim();
        if trimmed.is_empty() {
            return Err(at.error("must be an IANA time zone name such as `Asia/Shanghai` or `UTC`"));
        }
        match lookup(trimmed) {
            Some(rules) => Ok(Zone { name: trimmed.to_string(), rules }),
            None => Err(at.error(format!(
                "unknown time zone `{trimmed}`: use an IANA name such as `Asia/Shanghai`, `America/New_York` or `UTC`"
            ))),
        }
    }

    /// The zone a limiter's optional `timezone` field names: UTC when it is absent. `at` is the
    /// path of the `timezone` field.
    pub fn from_config(name: Option<&str>, at: &ConfigPath) -> Result<Self, ConfigError> {
        name.map_or_else(|| Ok(Zone::utc()), |name| Zone::parse(name, at))
    }

    /// The name as configured.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The period of `unit` holding the instant `now_ms`, or `None` for instants outside the
    /// years 1 to 9998.
    pub fn period(&self, unit: CalendarUnit, now_ms: u64) -> Option<Period> {
        let now_ms = i64::try_from(now_ms).ok().filter(|&ms| ms <= MAX_MS)?;
        let now = now_ms.div_euclid(1000);
        let today = (now + i64::from(self.rules.offset_at(now))).div_euclid(DAY);
        let (year, month, day) = tz::civil_from_days(today);
        let next_month = |y: i64, m: u32| if m == 12 { (y + 1, 1) } else { (y, m + 1) };
        let mut name = String::with_capacity(10);
        push_padded(&mut name, u32::try_from(year).ok()?, 4);
        let (first, next) = match unit {
            CalendarUnit::Day => {
                name.push('-');
                push_padded(&mut name, month, 2);
                name.push('-');
                push_padded(&mut name, day, 2);
                let (y, m) = next_month(year, month);
                let next = if day < tz::days_in_month(year, month) { (year, month, day + 1) } else { (y, m, 1) };
                ((year, month, day), next)
            }
            CalendarUnit::Month => {
                name.push('-');
                push_padded(&mut name, month, 2);
                let (y, m) = next_month(year, month);
                ((year, month, 1), (y, m, 1))
            }
            CalendarUnit::Year => ((year, 1, 1), (year + 1, 1, 1)),
        };
        Some(Period { name, start_ms: self.midnight_ms(first)?, end_ms: self.midnight_ms(next)? })
    }

    /// The first instant of `date` in this zone (local midnight, or the end of a
    /// daylight-saving gap when midnight is skipped; the first of two midnights in a fold).
    fn midnight_ms(&self, (year, month, day): (i64, u32, u32)) -> Option<u64> {
        if !(1..=9999).contains(&year) {
            return None;
        }
        let start = self.rules.instant_of_local(tz::days_from_civil(year, month, day) * DAY);
        let ms = start.checked_mul(1000).filter(|&ms| ms <= MAX_MS)?;
        u64::try_from(ms).ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use jiff::Timestamp;

    fn zone(name: &str) -> Zone {
        Zone::parse(name, &ConfigPath::root("t").field("timezone")).unwrap()
    }

    /// Milliseconds of an RFC 3339 instant.
    fn ms(instant: &str) -> u64 {
        u64::try_from(instant.parse::<Timestamp>().unwrap().as_millisecond()).unwrap()
    }

    const HOUR: u64 = 3_600_000;

    #[test]
    fn the_last_second_of_a_month_belongs_to_it_and_the_next_second_does_not() {
        let utc = Zone::utc();
        let last = utc.period(CalendarUnit::Month, ms("2026-11-30T23:59:59.999Z")).unwrap();
        assert_eq!(last.name, "2026-11");
        assert_eq!((last.start_ms, last.end_ms), (ms("2026-11-01T00:00:00Z"), ms("2026-12-01T00:00:00Z")));
        let next = utc.period(CalendarUnit::Month, ms("2026-12-01T00:00:00Z")).unwrap();
        assert_eq!(next.name, "2026-12");
        assert_eq!(next.end_ms, ms("2027-01-01T00:00:00Z"));
        let year_end = utc.period(CalendarUnit::Year, ms("2026-12-31T23:59:59Z")).unwrap();
        assert_eq!((year_end.name.as_str(), year_end.end_ms), ("2026", ms("2027-01-01T00:00:00Z")));
        let day = utc.period(CalendarUnit::Day, ms("2026-12-31T23:59:59Z")).unwrap();
        assert_eq!((day.name.as_str(), day.length_ms()), ("2026-12-31", 24 * HOUR));
    }

    #[test]
    fn leap_years_have_a_29th_of_february_and_366_days() {
        let utc = Zone::utc();
        let feb = utc.period(CalendarUnit::Month, ms("2028-02-29T12:00:00Z")).unwrap();
        assert_eq!((feb.name.as_str(), feb.length_ms()), ("2028-02", 29 * 24 * HOUR));
        let feb = utc.period(CalendarUnit::Month, ms("2026-02-28T23:59:59Z")).unwrap();
        assert_eq!(feb.length_ms(), 28 * 24 * HOUR);
        assert_eq!(utc.period(CalendarUnit::Year, ms("2028-06-01T00:00:00Z")).unwrap().length_ms(), 366 * 24 * HOUR);
        assert_eq!(utc.period(CalendarUnit::Year, ms("2100-06-01T00:00:00Z")).unwrap().length_ms(), 365 * 24 * HOUR);
        assert_eq!(utc.period(CalendarUnit::Year, ms("2000-06-01T00:00:00Z")).unwrap().length_ms(), 366 * 24 * HOUR);
    }

    #[test]
    fn asia_shanghai_months_start_at_16_utc_the_day_before() {
        let sh = zone("Asia/Shanghai");
        // 2026-11-30 23:59:59 in Shanghai is 15:59:59 UTC: still November there.
        let p = sh.period(CalendarUnit::Month, ms("2026-11-30T15:59:59Z")).unwrap();
        assert_eq!((p.name.as_str(), p.end_ms), ("2026-11", ms("2026-11-30T16:00:00Z")));
        // One second later it is December in Shanghai while still November in UTC.
        let p = sh.period(CalendarUnit::Month, ms("2026-11-30T16:00:00Z")).unwrap();
        assert_eq!((p.name.as_str(), p.start_ms), ("2026-12", ms("2026-11-30T16:00:00Z")));
        assert_eq!(Zone::utc().period(CalendarUnit::Month, ms("2026-11-30T16:00:00Z")).unwrap().name, "2026-11");
        // No daylight saving: every day is 24 hours.
        for day in ["2026-03-08T12:00:00Z", "2026-07-01T00:00:00Z", "2026-11-01T12:00:00Z"] {
            assert_eq!(sh.period(CalendarUnit::Day, ms(day)).unwrap().length_ms(), 24 * HOUR, "{day}");
        }
    }

    #[test]
    fn new_york_days_are_23_and_25_hours_on_the_dst_changes() {
        let ny = zone("America/New_York");
        // 2026-03-08: clocks go from 02:00 EST to 03:00 EDT.
        let spring = ny.period(CalendarUnit::Day, ms("2026-03-08T12:00:00Z")).unwrap();
        assert_eq!(spring.name, "2026-03-08");
        assert_eq!((spring.start_ms, spring.end_ms), (ms("2026-03-08T05:00:00Z"), ms("2026-03-09T04:00:00Z")));
        assert_eq!(spring.length_ms(), 23 * HOUR);
        // 2026-11-01: clocks go from 02:00 EDT back to 01:00 EST.
        let fall = ny.period(CalendarUnit::Day, ms("2026-11-01T12:00:00Z")).unwrap();
        assert_eq!((fall.start_ms, fall.end_ms), (ms("2026-11-01T04:00:00Z"), ms("2026-11-02T05:00:00Z")));
        assert_eq!(fall.length_ms(), 25 * HOUR);
        // The repeated hour (01:00-02:00 local, twice) is inside that one day.
        assert_eq!(ny.period(CalendarUnit::Day, ms("2026-11-01T05:30:00Z")).unwrap().name, "2026-11-01");
        assert_eq!(ny.period(CalendarUnit::Day, ms("2026-11-01T06:30:00Z")).unwrap().name, "2026-11-01");
        // The months holding them are an hour shorter and longer than their day count.
        let march = ny.period(CalendarUnit::Month, ms("2026-03-15T00:00:00Z")).unwrap();
        assert_eq!(march.length_ms(), 31 * 24 * HOUR - HOUR);
        let november = ny.period(CalendarUnit::Month, ms("2026-11-15T00:00:00Z")).unwrap();
        assert_eq!(november.length_ms(), 30 * 24 * HOUR + HOUR);
    }

    #[test]
    fn europe_london_switches_at_one_utc() {
        let london = zone("Europe/London");
        // 2026-03-29 01:00 GMT -> 02:00 BST; 2026-10-25 02:00 BST -> 01:00 GMT.
        let spring = london.period(CalendarUnit::Day, ms("2026-03-29T12:00:00Z")).unwrap();
        assert_eq!((spring.start_ms, spring.length_ms()), (ms("2026-03-29T00:00:00Z"), 23 * HOUR));
        let autumn = london.period(CalendarUnit::Day, ms("2026-10-25T12:00:00Z")).unwrap();
        assert_eq!((autumn.start_ms, autumn.length_ms()), (ms("2026-10-24T23:00:00Z"), 25 * HOUR));
        // In summer a London month starts at 23:00 UTC the day before.
        let july = london.period(CalendarUnit::Month, ms("2026-06-30T23:30:00Z")).unwrap();
        assert_eq!((july.name.as_str(), july.start_ms), ("2026-07", ms("2026-06-30T23:00:00Z")));
        let year = london.period(CalendarUnit::Year, ms("2026-12-31T23:59:59Z")).unwrap();
        assert_eq!((year.name.as_str(), year.end_ms), ("2026", ms("2027-01-01T00:00:00Z")));
    }

    #[test]
    fn a_skipped_midnight_starts_the_day_after_the_gap() {
        // Santiago (Chile) moves clocks from 00:00 to 01:00 on 2026-09-06: midnight never happens.
        let santiago = zone("America/Santiago");
        let day = santiago.period(CalendarUnit::Day, ms("2026-09-06T12:00:00Z")).unwrap();
        assert_eq!(day.name, "2026-09-06");
        assert_eq!(day.length_ms(), 23 * HOUR);
        assert_eq!(santiago.period(CalendarUnit::Day, ms("2026-09-05T12:00:00Z")).unwrap().end_ms, day.start_ms);
    }

    #[test]
    fn unknown_and_empty_zones_are_rejected_with_the_field_path() {
        let at = ConfigPath::root("token-limit").field("timezone");
        let err = Zone::parse("Mars/Olympus_Mons", &at).unwrap_err();
        assert_eq!(err.path, "timezone");
        assert!(err.message.contains("unknown time zone `Mars/Olympus_Mons`"), "{err}");
        assert!(Zone::parse(" ", &at).is_err());
        assert_eq!(Zone::parse("UTC", &at).unwrap(), Zone::utc());
        assert_eq!(Zone::parse("Asia/Shanghai", &at).unwrap().name(), "Asia/Shanghai");
        assert_eq!(Zone::from_config(None, &at).unwrap(), Zone::utc(), "UTC when absent");
        assert_eq!(Zone::from_config(Some("Mars/Base"), &at).unwrap_err().path, "timezone");
    }

    #[test]
    fn instants_outside_the_supported_range_give_no_period() {
        assert!(Zone::utc().period(CalendarUnit::Day, u64::MAX).is_none());
    }
}
