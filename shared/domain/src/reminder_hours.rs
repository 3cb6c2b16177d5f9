//! Reminder-time arithmetic: when a user's local `reminder_hour`:00 next comes round, as a
//! UTC epoch minute, across timezones (including :30 and :45 offsets) and daylight-saving
//! changes. Pure functions, tested without a clock.
//!
//! Every UTC offset and every transition in the tz database from 1990 on is a whole multiple
//! of 15 minutes (tested below against chrono-tz's whole database), so every due minute falls
//! on a quarter hour of UTC: a scheduler run every 15 minutes meets each one exactly. Minutes
//! (not quarter hours) are stored so that reminder minutes can come later without a migration.

use chrono::{DateTime, Duration, NaiveDate, NaiveDateTime, TimeZone, Utc};

/// Stored due values below this are epoch *hours* written before due times moved to minutes
/// (epoch minute 10^7 is in 1989, epoch hour 10^7 in 3110: the two scales cannot overlap).
pub const LEGACY_HOUR_LIMIT: i64 = 10_000_000;

pub fn epoch_minute(t: DateTime<Utc>) -> i64 {
    t.timestamp().div_euclid(60)
}

pub fn minute_start(minute: i64) -> DateTime<Utc> {
    DateTime::from_timestamp(minute * 60, 0).unwrap_or_default()
}

/// The first UTC minute strictly after `after`'s minute at which it is `hour`:00 local time in
/// `timezone`. On a spring-forward day whose `hour`:00 does not exist, the reminder comes at
/// the end of the gap (the instant the clocks jump); on a fall-back day, at the first of the
/// repeated hours.
pub fn next_due_minute(after: DateTime<Utc>, hour: u8, timezone: &str) -> i64 {
    let tz: chrono_tz::Tz = timezone.parse().unwrap_or(chrono_tz::UTC);
    let local_today = after.with_timezone(&tz).date_naive();
    let after = epoch_minute(after);
    // Yesterday too: a zone west of UTC may still be on the day before.
    for offset in -1..3 {
        let day = local_today + Duration::days(offset);
        if let Some(due) = local_instant(&tz, day, hour).map(epoch_minute)
            && due > after
        {
            return due;
        }
    }
    after + 24 * 60
}

/// The latest UTC minute at or before `now` at which it is `hour`:00 local time (the
/// occurrence a late run may still deliver).
pub fn last_due_minute(now: DateTime<Utc>, hour: u8, timezone: &str) -> i64 {
    let tz: chrono_tz::Tz = timezone.parse().unwrap_or(chrono_tz::UTC);
    let local_today = now.with_timezone(&tz).date_naive();
    let now = epoch_minute(now);
    for offset in -1..3 {
        let day = local_today - Duration::days(offset);
        if let Some(due) = local_instant(&tz, day, hour).map(epoch_minute)
            && due <= now
        {
            return due;
        }
    }
    now - 24 * 60
}

/// The due minute a stored value stands for. Values written before issue 22 are epoch hours
/// (the local due time rounded down to a UTC hour): they stand for the first occurrence at or
/// after the start of that hour, which is the exact minute the rounding lost.
pub fn stored_due_minute(stored: i64, hour: u8, timezone: &str) -> i64 {
    if stored >= LEGACY_HOUR_LIMIT {
        return stored;
    }
    next_due_minute(minute_start(stored * 60 - 1), hour, timezone)
}

fn local_instant(tz: &chrono_tz::Tz, day: NaiveDate, hour: u8) -> Option<DateTime<Utc>> {
    let naive = day.and_hms_opt(u32::from(hour), 0, 0)?;
    match tz.from_local_datetime(&naive) {
        chrono::LocalResult::Single(t) => Some(t.with_timezone(&Utc)),
        chrono::LocalResult::Ambiguous(first, _) => Some(first.with_timezone(&Utc)),
        chrono::LocalResult::None => Some(gap_end(tz, naive)),
    }
}

/// The instant the clocks jump over `naive` (which falls in a gap): the first minute whose
/// local time is past it. It lies between `naive` read with the offset after the gap and read
/// with the offset before it; gaps are rare (one a year at most), so a scan is cheap enough.
fn gap_end(tz: &chrono_tz::Tz, naive: NaiveDateTime) -> DateTime<Utc> {
    use chrono::Offset;
    let as_utc = naive.and_utc();
    let offset_at = |t: DateTime<Utc>| {
        i64::from(
            tz.offset_from_utc_datetime(&t.naive_utc())
                .fix()
                .local_minus_utc(),
        )
    };
    let before = offset_at(as_utc - Duration::days(1));
    let after = offset_at(as_utc + Duration::days(1));
    let first = epoch_minute(as_utc) - after / 60;
    let last = epoch_minute(as_utc) - before / 60;
    (first..=last)
        .map(minute_start)
        .find(|t| t.with_timezone(tz).naive_local() >= naive)
        .unwrap_or_else(|| minute_start(last))
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{Offset, Timelike};

    fn at(y: i32, m: u32, d: u32, h: u32, min: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(y, m, d, h, min, 0).unwrap()
    }

    fn next(after: DateTime<Utc>, hour: u8, tz: &str) -> DateTime<Utc> {
        minute_start(next_due_minute(after, hour, tz))
    }

    fn last(now: DateTime<Utc>, hour: u8, tz: &str) -> DateTime<Utc> {
        minute_start(last_due_minute(now, hour, tz))
    }

    /// 09:00 local in the zones whose offset is not a whole hour: on the minute, not on the
    /// UTC hour before it.
    #[test]
    fn half_and_quarter_hour_zones_are_due_at_the_exact_local_minute() {
        let cases = [
            ("Asia/Kolkata", at(2026, 12, 7, 3, 30)),        // +5:30
            ("Asia/Kathmandu", at(2026, 12, 7, 3, 15)),      // +5:45
            ("America/St_Johns", at(2026, 12, 7, 12, 30)),   // -3:30 (NST)
            ("Australia/Adelaide", at(2026, 12, 6, 22, 30)), // +10:30 (ACDT)
            ("Australia/Eucla", at(2026, 12, 7, 0, 15)),     // +8:45
            ("Pacific/Chatham", at(2026, 12, 6, 19, 15)),    // +13:45 (CHADT)
            ("Asia/Tehran", at(2026, 12, 7, 5, 30)),         // +3:30
            ("Australia/Lord_Howe", at(2026, 12, 6, 22, 0)), // +11 (LHDT)
        ];
        for (tz, due) in cases {
            let day_before = due - Duration::hours(20);
            assert_eq!(next(day_before, 9, tz), due, "{tz}");
            assert_eq!(last(due, 9, tz), due, "{tz}");
            let local = due.with_timezone(&tz.parse::<chrono_tz::Tz>().unwrap());
            assert_eq!((local.hour(), local.minute()), (9, 0), "{tz}");
            // One minute earlier it is still yesterday's.
            assert_eq!(
                last(due - Duration::minutes(1), 9, tz),
                due - Duration::days(1),
                "{tz}"
            );
        }
        // Chatham in its winter (CHAST, +12:45): 09:00 is 20:15 UTC the day before.
        assert_eq!(
            next(at(2026, 7, 1, 0, 0), 9, "Pacific/Chatham"),
            at(2026, 7, 1, 20, 15)
        );
    }

    /// The next due minute is the local hour in the user's timezone, and once it has come the
    /// next one is the following day's. Across daylight-saving changes the local minute stays
    /// and the UTC one moves; a local time that does not exist comes at the instant of the
    /// jump, one that happens twice counts once (the first). New York changes on 8 March and 1 November 2026; Adelaide
    /// (+9:30 / +10:30) on 4 October at 02:00 ACST and 5 April at 03:00 ACDT; Lord Howe moves
    /// its clocks by 30 minutes (+10:30 / +11): the gap is 02:00–02:30 on 4 October, the repeat
    /// 01:30–02:00 on 5 April.
    #[test]
    fn the_next_due_minute_is_the_local_hour_and_daylight_saving_moves_the_utc_one() {
        // (zone, now, local hour, the next due minute, the one after it), UTC times in 2026
        let cases = [
            // 09:00 in Istanbul (UTC+3) is 06:00 UTC, from a minute or an hour before.
            (
                "Europe/Istanbul",
                "11-25 05:00",
                9,
                "11-25 06:00",
                "11-26 06:00",
            ),
            (
                "Europe/Istanbul",
                "11-25 05:59",
                9,
                "11-25 06:00",
                "11-26 06:00",
            ),
            // 09:00 EST = 14:00 UTC before the change, 09:00 EDT = 13:00 UTC after.
            (
                "America/New_York",
                "03-06 15:00",
                9,
                "03-07 14:00",
                "03-08 13:00",
            ),
            // 02:00 does not exist on 8 March: 03:00 EDT (07:00 UTC).
            (
                "America/New_York",
                "03-08 00:00",
                2,
                "03-08 07:00",
                "03-09 06:00",
            ),
            // 01:00 happens twice on 1 November: the first (05:00 UTC, EDT), once.
            (
                "America/New_York",
                "11-01 00:00",
                1,
                "11-01 05:00",
                "11-02 06:00",
            ),
            // 09:00 the day before spring forward is 23:30 UTC (ACST), the day of it 22:30.
            (
                "Australia/Adelaide",
                "10-02 12:00",
                9,
                "10-02 23:30",
                "10-03 22:30",
            ),
            // 02:00 does not exist on 4 October: 03:00 ACDT, the instant of the jump.
            (
                "Australia/Adelaide",
                "10-03 12:00",
                2,
                "10-03 16:30",
                "10-04 15:30",
            ),
            // 02:00 happens twice on 5 April: the first (ACDT, 15:30 UTC), once.
            (
                "Australia/Adelaide",
                "04-04 12:00",
                2,
                "04-04 15:30",
                "04-05 16:30",
            ),
            // 09:00 either side of fall back: 22:30 UTC (ACDT), then 23:30 (ACST).
            (
                "Australia/Adelaide",
                "04-03 12:00",
                9,
                "04-03 22:30",
                "04-04 23:30",
            ),
            // 02:00 does not exist: 02:30 LHDT = 15:30 UTC, not an hour late.
            (
                "Australia/Lord_Howe",
                "10-03 06:00",
                2,
                "10-03 15:30",
                "10-04 15:00",
            ),
            // 09:00 the day before (LHST, 22:30 UTC) and the day of (LHDT, 22:00 UTC).
            (
                "Australia/Lord_Howe",
                "10-02 12:00",
                9,
                "10-02 22:30",
                "10-03 22:00",
            ),
            // 01:00 on 5 April is not repeated (01:30–02:00 is): 14:00 UTC, then 14:30.
            (
                "Australia/Lord_Howe",
                "04-04 06:00",
                1,
                "04-04 14:00",
                "04-05 14:30",
            ),
        ];
        let utc = |t: &str| {
            chrono::NaiveDateTime::parse_from_str(&format!("2026-{t}"), "%Y-%m-%d %H:%M")
                .unwrap()
                .and_utc()
        };
        for (tz, now, hour, due, then) in cases {
            let first = next(utc(now), hour, tz);
            assert_eq!(first, utc(due), "{tz} {hour}:00 after {now}");
            assert_eq!(
                next(first, hour, tz),
                utc(then),
                "{tz} {hour}:00 after {due}"
            );
        }
    }

    #[test]
    fn the_last_due_minute_is_the_latest_occurrence_at_or_before_now() {
        let tz = "Europe/Istanbul";
        assert_eq!(last(at(2026, 11, 25, 6, 30), 9, tz), at(2026, 11, 25, 6, 0));
        assert_eq!(last(at(2026, 11, 25, 5, 59), 9, tz), at(2026, 11, 24, 6, 0));
        // Never after now, and the next one is strictly after.
        let now = at(2026, 3, 8, 12, 0);
        for hour in 0..24 {
            let l = last_due_minute(now, hour, "America/New_York");
            let n = next_due_minute(now, hour, "America/New_York");
            assert!(l <= epoch_minute(now) && n > epoch_minute(now), "{hour}");
            assert!(n - l <= 25 * 60, "{hour}: {l} {n}");
        }
    }

    #[test]
    fn legacy_hour_values_stand_for_the_minute_the_rounding_lost() {
        // Written before issue 22: 09:00 Kolkata (03:30 UTC) was stored as the hour 03:00 UTC.
        let hour = at(2026, 12, 7, 3, 0).timestamp() / 3600;
        assert_eq!(
            minute_start(stored_due_minute(hour, 9, "Asia/Kolkata")),
            at(2026, 12, 7, 3, 30)
        );
        // A whole-hour zone's stored hour is exactly its minute.
        let hour = at(2026, 12, 7, 6, 0).timestamp() / 3600;
        assert_eq!(
            minute_start(stored_due_minute(hour, 9, "Europe/Istanbul")),
            at(2026, 12, 7, 6, 0)
        );
        // A minute value is itself.
        let minute = epoch_minute(at(2026, 12, 7, 3, 30));
        assert_eq!(stored_due_minute(minute, 9, "Asia/Kolkata"), minute);
    }

    /// Every zone chrono-tz knows: from 1990 to 2037 every offset is a whole number of quarter
    /// hours, and from 2023 every change of offset happens on a quarter hour of UTC, so every
    /// due minute (a local whole hour, or the end of a gap) is one the 15-minute schedule runs
    /// at. (Earlier, a few changes came at 00:01 local: Newfoundland and Gaza to 2011,
    /// Antarctica/Casey 2020–2022; such a gap's end would be met up to 14 minutes late, never
    /// early. Before 1990 some offsets were in seconds, e.g. Africa/Monrovia to 1972.)
    #[test]
    fn every_offset_and_change_in_the_tz_database_is_on_a_quarter_hour() {
        let offset = |tz: &chrono_tz::Tz, t: i64| {
            let t = DateTime::from_timestamp(t, 0).unwrap().naive_utc();
            tz.offset_from_utc_datetime(&t).fix().local_minus_utc()
        };
        let (start, end) = (
            at(1990, 1, 1, 0, 0).timestamp(),
            at(2038, 1, 1, 0, 0).timestamp(),
        );
        let since_2023 = at(2023, 1, 1, 0, 0).timestamp();
        let step = 24 * 3600;
        let mut changes = 0;
        for tz in chrono_tz::TZ_VARIANTS {
            let mut t = start;
            let mut before = offset(&tz, t);
            while t < end {
                let after = offset(&tz, t + step);
                assert_eq!(after % 900, 0, "{tz}: offset {after} s at {t}");
                if after != before {
                    // The first second with the new offset.
                    let (mut lo, mut hi) = (t, t + step);
                    while hi - lo > 1 {
                        let mid = (lo + hi) / 2;
                        if offset(&tz, mid) == before {
                            lo = mid;
                        } else {
                            hi = mid;
                        }
                    }
                    if hi >= since_2023 {
                        assert_eq!(hi % 900, 0, "{tz}: offset changes at {hi}");
                    }
                    changes += 1;
                }
                before = after;
                t += step;
            }
        }
        assert!(changes > 10_000, "{changes}");
    }
}
