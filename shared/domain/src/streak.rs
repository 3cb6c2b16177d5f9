//! Daily streaks: consecutive local days (in the user's timezone) with at least one completed
//! step. Pure functions, so days, timezones and DST changes are tested without a clock.

use chrono::{DateTime, NaiveDate, Utc};

/// The user's calendar day at `at`; an unknown timezone name falls back to UTC.
pub fn local_date(at: DateTime<Utc>, timezone: &str) -> NaiveDate {
    match timezone.parse::<chrono_tz::Tz>() {
        Ok(tz) => at.with_timezone(&tz).date_naive(),
        Err(_) => at.date_naive(),
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Streak {
    /// The last local day with a completed step.
    pub last_day: NaiveDate,
    pub days: u32,
}

/// The streak after completing a step on local day `today`.
pub fn after_completion(previous: Option<Streak>, today: NaiveDate) -> Streak {
    match previous {
        // Already counted today, or the user moved west across a date line: keep it.
        Some(s) if s.last_day >= today => s,
        Some(s) if s.last_day.succ_opt() == Some(today) => Streak {
            last_day: today,
            days: s.days + 1,
        },
        _ => Streak {
            last_day: today,
            days: 1,
        },
    }
}

/// The streak to show on local day `today`: alive while its last day is today or yesterday.
pub fn current(previous: Option<Streak>, today: NaiveDate) -> u32 {
    match previous {
        Some(s) if s.last_day >= today || s.last_day.succ_opt() == Some(today) => s.days,
        _ => 0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn day(y: i32, m: u32, d: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, d).unwrap()
    }

    fn utc(y: i32, m: u32, d: u32, h: u32, min: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(y, m, d, h, min, 0).unwrap()
    }

    #[test]
    fn consecutive_days_grow_the_streak_and_a_gap_resets_it() {
        let s = after_completion(None, day(2026, 11, 1));
        assert_eq!(s.days, 1);
        let s = after_completion(Some(s), day(2026, 11, 1));
        assert_eq!(s.days, 1, "a second step the same day counts once");
        let s = after_completion(Some(s), day(2026, 11, 2));
        assert_eq!(s.days, 2);
        assert_eq!(current(Some(s), day(2026, 11, 3)), 2, "alive the next day");
        assert_eq!(
            current(Some(s), day(2026, 11, 4)),
            0,
            "broken after a missed day"
        );
        assert_eq!(after_completion(Some(s), day(2026, 11, 4)).days, 1);
    }

    #[test]
    fn days_are_the_users_local_days() {
        for (now, tz, local) in [
            // 22:30 UTC on 1 Nov is already 2 Nov in Istanbul (UTC+3).
            (
                utc(2026, 11, 1, 22, 30),
                "Europe/Istanbul",
                day(2026, 11, 2),
            ),
            (utc(2026, 11, 1, 22, 30), "UTC", day(2026, 11, 1)),
            (
                utc(2026, 11, 2, 3, 0),
                "America/Los_Angeles",
                day(2026, 11, 1),
            ),
            // An unknown zone counts as UTC.
            (utc(2026, 11, 2, 3, 0), "Not/AZone", day(2026, 11, 2)),
        ] {
            assert_eq!(local_date(now, tz), local, "{tz} at {now}");
        }
    }

    #[test]
    fn two_steps_an_hour_apart_in_utc_can_be_two_local_days() {
        let tz = "Asia/Tokyo"; // UTC+9: local midnight is 15:00 UTC.
        let first = after_completion(None, local_date(utc(2026, 11, 1, 14, 30), tz));
        let second = after_completion(Some(first), local_date(utc(2026, 11, 1, 15, 30), tz));
        assert_eq!(second.days, 2);
    }

    #[test]
    fn a_dst_change_neither_breaks_nor_doubles_a_streak() {
        // New York springs forward on 8 Mar 2026 (a 23-hour day) and falls back on
        // 1 Nov 2026 (a 25-hour day). Steps at 23:30 local on consecutive days.
        let tz = "America/New_York";
        let spring = [
            utc(2026, 3, 8, 4, 30),
            utc(2026, 3, 9, 3, 30),
            utc(2026, 3, 10, 3, 30),
        ];
        let mut streak = None;
        for at in spring {
            streak = Some(after_completion(streak, local_date(at, tz)));
        }
        assert_eq!(streak.unwrap().days, 3);
        assert_eq!(streak.unwrap().last_day, day(2026, 3, 9));

        // Fall back: 00:30 and 23:30 local on 1 Nov are 24 h + 1 h apart in UTC but one day.
        let a = local_date(utc(2026, 11, 1, 4, 30), tz);
        let b = local_date(utc(2026, 11, 2, 4, 30), tz);
        assert_eq!(a, day(2026, 11, 1));
        assert_eq!(b, day(2026, 11, 1), "23:30 EST on 1 Nov is still 1 Nov");
        let s = after_completion(after_completion(None, a).into(), b);
        assert_eq!(s.days, 1);
    }
}
