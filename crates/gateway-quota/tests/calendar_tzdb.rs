//! The compact zone rules behind calendar quotas give the same periods as the full IANA
//! database (jiff with its bundled tzdb, as the SDK computed them before): for every zone of the
//! database, every day, month and year from 2026 through 2035, the same name, start and end.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use gateway_quota::calendar::{CalendarUnit, Period, Zone};
use gateway_sdk::config::ConfigPath;
use jiff::Timestamp;
use jiff::civil::{Date, DateTime, Time};
use jiff::tz::TimeZone;

/// The SDK's calendar code before the compact rules, on the full database: the reference.
fn reference(tz: &TimeZone, unit: CalendarUnit, now_ms: u64) -> Option<Period> {
    let now = Timestamp::from_millisecond(i64::try_from(now_ms).ok()?).ok()?;
    let today = tz.to_offset(now).to_datetime(now).date();
    let (year, month, day) = (today.year(), today.month(), today.day());
    let next_month =
        |y: i16, m: i8| if m == 12 { Date::new(y.checked_add(1)?, 1, 1).ok() } else { Date::new(y, m + 1, 1).ok() };
    let (first, next, name) = match unit {
        CalendarUnit::Day => {
            let next = if day < today.days_in_month() {
                Date::new(year, month, day + 1).ok()?
            } else {
                next_month(year, month)?
            };
            (today, next, format!("{year:04}-{month:02}-{day:02}"))
        }
        CalendarUnit::Month => {
            (Date::new(year, month, 1).ok()?, next_month(year, month)?, format!("{year:04}-{month:02}"))
        }
        CalendarUnit::Year => {
            (Date::new(year, 1, 1).ok()?, Date::new(year.checked_add(1)?, 1, 1).ok()?, format!("{year:04}"))
        }
    };
    let midnight = |date: Date| {
        let start = tz.to_ambiguous_timestamp(DateTime::from_parts(date, Time::midnight())).compatible().ok()?;
        u64::try_from(start.as_millisecond()).ok()
    };
    Some(Period { name, start_ms: midnight(first)?, end_ms: midnight(next)? })
}

fn zone(name: &str) -> Zone {
    Zone::parse(name, &ConfigPath::root("t").field("timezone")).unwrap()
}

#[test]
fn every_zone_gives_the_same_periods_as_the_full_database_from_2026_through_2035() {
    let names: Vec<String> = jiff::tz::db().available().map(|n| n.to_string()).collect();
    assert!(names.len() > 500, "the bundled database lists {} zones", names.len());
    let mut checked = 0u64;
    for name in &names {
        let tz = TimeZone::get(name).unwrap();
        let ours = zone(name);
        let first = tz.to_ambiguous_timestamp(jiff::civil::date(2026, 1, 1).at(0, 0, 0, 0)).compatible().unwrap();
        let first_ms = u64::try_from(first.as_millisecond()).unwrap();
        for unit in [CalendarUnit::Day, CalendarUnit::Month, CalendarUnit::Year] {
            let mut at = first_ms;
            loop {
                let want = reference(&tz, unit, at).unwrap();
                if want.name.starts_with("2036") {
                    break;
                }
                // The first and last millisecond of the period, and one in its middle.
                for probe in [want.start_ms, want.start_ms + want.length_ms() / 2, want.end_ms - 1] {
                    let got = ours.period(unit, probe);
                    assert_eq!(got.as_ref(), reference(&tz, unit, probe).as_ref(), "{name} {unit} at {probe} ms");
                }
                if at != want.start_ms {
                    assert_eq!(ours.period(unit, at).as_ref(), Some(&want), "{name} {unit} at {at} ms");
                }
                checked += 1;
                at = want.end_ms;
            }
        }
    }
    // 10 years of days, months and years per zone.
    assert!(checked >= names.len() as u64 * (3652 + 120 + 10), "{checked} periods");
}

#[test]
fn every_database_name_is_accepted_in_any_ascii_case_and_others_are_not() {
    let at = ConfigPath::root("t").field("timezone");
    for name in jiff::tz::db().available().map(|n| n.to_string()) {
        assert_eq!(zone(&name).name(), name);
        let lower = name.to_ascii_lowercase();
        assert_eq!(zone(&lower).name(), lower, "lookups ignore ASCII case, as jiff's did");
        assert_eq!(TimeZone::get(&lower).is_ok(), Zone::parse(&lower, &at).is_ok());
    }
    for unknown in ["Mars/Olympus_Mons", "America/NewYork", "EST5EDT,M3.2.0,M11.1.0", "+08:00", "Asia/", "Z"] {
        assert_eq!(Zone::parse(unknown, &at).is_ok(), TimeZone::get(unknown).is_ok(), "{unknown}");
    }
}
