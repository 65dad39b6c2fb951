//! A small evaluator for the generated zone rules (`tzdata.rs`): the UTC offset at an instant,
//! the instant of a local wall-clock time, and the proleptic Gregorian calendar arithmetic both
//! need. Times are whole seconds since the Unix epoch; days are days since 1970-01-01.

/// Seconds in a day.
pub(super) const DAY: i64 = 86_400;
/// Offsets in the database stay well within ±26 hours.
const MAX_OFFSET: i64 = 26 * 3600;

/// The day a daylight-saving change happens on, as a POSIX TZ rule names it.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Day {
    /// `Mm.w.d`: weekday `d` (0 = Sunday) of week `w` (1..=4, 5 = the last) of month `m`, the
    /// only form the database uses (`cargo xtask tzdata` refuses `Jn` and `n`).
    Month(u8, u8, u8),
}

/// A POSIX TZ rule: a standard offset, and optionally a daylight-saving offset with the local
/// times it starts (in standard time) and ends (in daylight-saving time) each year.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Rule {
    std: i32,
    dst: Option<(i32, Day, i32, Day, i32)>,
}

impl Rule {
    /// A fixed offset, in seconds east of UTC.
    pub(crate) const fn fixed(std: i32) -> Rule {
        Rule { std, dst: None }
    }

    /// Standard offset `std`, daylight-saving offset `dst`, starting on `start` at `start_time`
    /// seconds after local midnight and ending on `end` at `end_time`.
    pub(crate) const fn dst(std: i32, dst: i32, start: Day, start_time: i32, end: Day, end_time: i32) -> Rule {
        Rule { std, dst: Some((dst, start, start_time, end, end_time)) }
    }

    fn offset_at(&self, t: i64) -> i32 {
        let Some((dst, start, start_time, end, end_time)) = self.dst else {
            return self.std;
        };
        let (year, _, _) = civil_from_days((t + i64::from(self.std)).div_euclid(DAY));
        // The changes of the year before, this year and the next, latest wins; when a start and
        // an end fall on the same instant (daylight-saving time all year), the start wins.
        let mut best: Option<(i64, i32)> = None;
        for y in [year - 1, year, year + 1] {
            let ends = day_of(y, end) * DAY + i64::from(end_time) - i64::from(dst);
            let starts = day_of(y, start) * DAY + i64::from(start_time) - i64::from(self.std);
            for (at, offset) in [(ends, self.std), (starts, dst)] {
                if at <= t && best.is_none_or(|(b, _)| at >= b) {
                    best = Some((at, offset));
                }
            }
        }
        best.map_or(self.std, |(_, offset)| offset)
    }
}

/// One zone from 2026 on: the offset in effect before `transitions`, the offset changes
/// `(instant, new offset)` in order, and the rule that governs every instant from `rule_from` on.
#[derive(Debug)]
pub(crate) struct ZoneRules {
    initial: i32,
    transitions: &'static [(i64, i32)],
    rule_from: i64,
    rule: Rule,
}

impl ZoneRules {
    pub(crate) const fn new(initial: i32, transitions: &'static [(i64, i32)], rule_from: i64, rule: Rule) -> Self {
        ZoneRules { initial, transitions, rule_from, rule }
    }

    /// Offset from UTC in seconds at instant `t`.
    pub(crate) fn offset_at(&self, t: i64) -> i32 {
        if t >= self.rule_from {
            return self.rule.offset_at(t);
        }
        let after = self.transitions.partition_point(|&(at, _)| at <= t);
        after.checked_sub(1).and_then(|i| self.transitions.get(i)).map_or(self.initial, |&(_, offset)| offset)
    }

    /// The instant of local wall-clock time `local` (seconds since the epoch as if local time
    /// were UTC), resolved like RFC 5545 and jiff's `compatible`: in a fold the earlier instant,
    /// in a gap the time shifted forward by the gap's length.
    pub(crate) fn instant_of_local(&self, local: i64) -> i64 {
        let before = i64::from(self.offset_at(local - MAX_OFFSET));
        let after = i64::from(self.offset_at(local + MAX_OFFSET));
        let fits = |offset: i64| i64::from(self.offset_at(local - offset)) == offset;
        match (fits(before), fits(after)) {
            (true, true) => local - before.max(after),
            (true, false) => local - before,
            (false, true) => local - after,
            // A gap: the offset before it is the smaller one.
            (false, false) => local - before.min(after),
        }
    }
}

/// Whether `year` has a February 29th.
pub(super) fn is_leap(year: i64) -> bool {
    year % 4 == 0 && (year % 100 != 0 || year % 400 == 0)
}

/// Days in `month` (1..=12) of `year`.
pub(super) fn days_in_month(year: i64, month: u32) -> u32 {
    match month {
        2 if is_leap(year) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Days since 1970-01-01 of a proleptic Gregorian date (`month` 1..=12, `day` 1..=31).
pub(super) fn days_from_civil(year: i64, month: u32, day: u32) -> i64 {
    // Count in 400-year eras of 146,097 days that start on March 1st, so the leap day is last.
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let year_of_era = y - era * 400;
    let shifted_month = i64::from((month + 9) % 12);
    let day_of_year = (153 * shifted_month + 2) / 5 + i64::from(day) - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    era * 146_097 + day_of_era - 719_468
}

/// The date (year, month 1..=12, day 1..=31) of a day counted from 1970-01-01.
pub(super) fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let day_of_era = z - era * 146_097;
    let year_of_era = (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let shifted_month = (5 * day_of_year + 2) / 153;
    // Both are small and non-negative by construction.
    let day = (day_of_year - (153 * shifted_month + 2) / 5 + 1) as u32;
    let month = if shifted_month < 10 { shifted_month + 3 } else { shifted_month - 9 } as u32;
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

/// The day (since 1970-01-01) a rule's `Day` falls on in `year`.
fn day_of(year: i64, day: Day) -> i64 {
    match day {
        Day::Month(month, week, weekday) => {
            let month = u32::from(month);
            let first = days_from_civil(year, month, 1);
            // 1970-01-01 was a Thursday (weekday 4).
            let first_weekday = (first + 4).rem_euclid(7);
            let mut date = 1 + (i64::from(weekday) - first_weekday).rem_euclid(7) + 7 * (i64::from(week) - 1);
            while date > i64::from(days_in_month(year, month)) {
                date -= 7;
            }
            first + date - 1
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn civil_days_round_trip_over_many_centuries() {
        for days in (-800_000..3_000_000).step_by(37) {
            let (y, m, d) = civil_from_days(days);
            assert_eq!(days_from_civil(y, m, d), days, "{y}-{m}-{d}");
            assert!((1..=12).contains(&m) && d >= 1 && d <= days_in_month(y, m));
        }
        assert_eq!(days_from_civil(1970, 1, 1), 0);
        assert_eq!(civil_from_days(20_454), (2026, 1, 1));
        assert_eq!(civil_from_days(days_from_civil(2028, 2, 29)), (2028, 2, 29));
    }

    #[test]
    fn rule_days_follow_posix() {
        // The second Sunday of March 2026 is the 8th, the first Sunday of November the 1st.
        assert_eq!(civil_from_days(day_of(2026, Day::Month(3, 2, 0))), (2026, 3, 8));
        assert_eq!(civil_from_days(day_of(2026, Day::Month(11, 1, 0))), (2026, 11, 1));
        // The last Sunday of October 2026 is the 25th.
        assert_eq!(civil_from_days(day_of(2026, Day::Month(10, 5, 0))), (2026, 10, 25));
        // The last Friday of February 2028 (a leap year) is the 25th; of March 2026 the 27th.
        assert_eq!(civil_from_days(day_of(2028, Day::Month(2, 5, 5))), (2028, 2, 25));
        assert_eq!(civil_from_days(day_of(2026, Day::Month(3, 5, 5))), (2026, 3, 27));
    }

    #[test]
    fn new_york_offsets_change_at_two_local() {
        let ny = ZoneRules::new(
            0,
            &[],
            i64::MIN,
            Rule::dst(-18_000, -14_400, Day::Month(3, 2, 0), 7200, Day::Month(11, 1, 0), 7200),
        );
        let spring = days_from_civil(2026, 3, 8) * DAY + 7 * 3600; // 07:00 UTC = 02:00 EST
        assert_eq!((ny.offset_at(spring - 1), ny.offset_at(spring)), (-18_000, -14_400));
        let fall = days_from_civil(2026, 11, 1) * DAY + 6 * 3600; // 06:00 UTC = 02:00 EDT
        assert_eq!((ny.offset_at(fall - 1), ny.offset_at(fall)), (-14_400, -18_000));
        // 02:30 on the spring day does not exist: 03:30 EDT. 01:30 on the fall day is twice: EDT.
        let gap = days_from_civil(2026, 3, 8) * DAY + 2 * 3600 + 1800;
        assert_eq!(ny.instant_of_local(gap), spring + 1800);
        let fold = days_from_civil(2026, 11, 1) * DAY + 3600 + 1800;
        assert_eq!(ny.instant_of_local(fold), fall - 1800);
    }
}
