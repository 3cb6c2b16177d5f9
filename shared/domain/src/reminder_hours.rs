//! Reminder-hour arithmetic: when a user's local `reminder_hour` next comes round, in UTC
//! epoch hours, across timezones and daylight-saving changes. Pure functions, tested without a
//! clock.

use chrono::{DateTime, Duration, NaiveDate, TimeZone, Timelike, Utc};

pub fn epoch_hour(t: DateTime<Utc>) -> i64 {
    t.timestamp().div_euclid(3600)
}

/// The first UTC hour strictly after `after` at which it is `hour`:00 local time in
/// `timezone`. On a spring-forward day whose `hour` does not exist, the reminder comes at the
/// first instant after the gap; on a fall-back day, at the first of the repeated hours.
pub fn next_due_hour(after: DateTime<Utc>, hour: u8, timezone: &str) -> i64 {
    let tz: chrono_tz::Tz = timezone.parse().unwrap_or(chrono_tz::UTC);
    let local_today = after.with_timezone(&tz).date_naive();
    for offset in 0..3 {
        let day = local_today + Duration::days(offset);
        let Some(due) = local_instant(&tz, day, hour) else {
            continue;
        };
        let due_hour = epoch_hour(due);
        if due_hour > epoch_hour(after) {
            return due_hour;
        }
    }
    epoch_hour(after) + 24
}

/// The latest UTC hour at or before `now`'s hour at which it is `hour`:00 local time (the
/// occurrence a late run may still deliver).
pub fn last_due_hour(now: DateTime<Utc>, hour: u8, timezone: &str) -> i64 {
    let tz: chrono_tz::Tz = timezone.parse().unwrap_or(chrono_tz::UTC);
    let local_today = now.with_timezone(&tz).date_naive();
    for offset in 0..3 {
        let day = local_today - Duration::days(offset);
        let Some(due) = local_instant(&tz, day, hour) else {
            continue;
        };
        let due_hour = epoch_hour(due);
        if due_hour <= epoch_hour(now) {
            return due_hour;
        }
    }
    epoch_hour(now) - 24
}

fn local_instant(tz: &chrono_tz::Tz, day: NaiveDate, hour: u8) -> Option<DateTime<Utc>> {
    let naive = day.and_hms_opt(u32::from(hour), 0, 0)?;
    match tz.from_local_datetime(&naive) {
        chrono::LocalResult::Single(t) => Some(t.with_timezone(&Utc)),
        chrono::LocalResult::Ambiguous(first, _) => Some(first.with_timezone(&Utc)),
        // In a DST gap: the first instant after it.
        chrono::LocalResult::None => {
            (1..=3).find_map(
                |h| match tz.from_local_datetime(&(naive + Duration::hours(h))) {
                    chrono::LocalResult::Single(t) | chrono::LocalResult::Ambiguous(t, _) => {
                        Some(t.with_timezone(&Utc).with_minute(0)?)
                    }
                    chrono::LocalResult::None => None,
                },
            )
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(y: i32, m: u32, d: u32, h: u32, min: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(y, m, d, h, min, 0).unwrap()
    }

    fn hour_to_utc(h: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(h * 3600, 0).unwrap()
    }

    #[test]
    fn the_next_due_hour_is_the_local_hour_in_the_users_timezone() {
        // 09:00 in Istanbul (UTC+3) is 06:00 UTC.
        let due = next_due_hour(at(2026, 11, 25, 5, 0), 9, "Europe/Istanbul");
        assert_eq!(hour_to_utc(due), at(2026, 11, 25, 6, 0));
        // Once that hour has started, the next one is tomorrow's.
        let due = next_due_hour(at(2026, 11, 25, 6, 10), 9, "Europe/Istanbul");
        assert_eq!(hour_to_utc(due), at(2026, 11, 26, 6, 0));
    }

    #[test]
    fn daylight_saving_moves_the_utc_hour_not_the_local_one() {
        let tz = "America/New_York";
        // 09:00 EST = 14:00 UTC before 8 March 2026; 09:00 EDT = 13:00 UTC after.
        assert_eq!(
            hour_to_utc(next_due_hour(at(2026, 3, 7, 15, 0), 9, tz)),
            at(2026, 3, 8, 13, 0)
        );
        assert_eq!(
            hour_to_utc(next_due_hour(at(2026, 3, 6, 15, 0), 9, tz)),
            at(2026, 3, 7, 14, 0)
        );
        // 02:00 does not exist on 8 March: the reminder comes at 03:00 EDT (07:00 UTC).
        assert_eq!(
            hour_to_utc(next_due_hour(at(2026, 3, 8, 0, 0), 2, tz)),
            at(2026, 3, 8, 7, 0)
        );
        // 01:00 happens twice on 1 November: the first one (05:00 UTC, EDT) counts, once.
        let first = next_due_hour(at(2026, 11, 1, 0, 0), 1, tz);
        assert_eq!(hour_to_utc(first), at(2026, 11, 1, 5, 0));
        assert_eq!(
            hour_to_utc(next_due_hour(hour_to_utc(first), 1, tz)),
            at(2026, 11, 2, 6, 0)
        );
    }

    #[test]
    fn the_last_due_hour_is_the_latest_occurrence_at_or_before_now() {
        let tz = "Europe/Istanbul";
        // 09:00 Istanbul = 06:00 UTC.
        assert_eq!(
            hour_to_utc(last_due_hour(at(2026, 11, 25, 6, 30), 9, tz)),
            at(2026, 11, 25, 6, 0)
        );
        assert_eq!(
            hour_to_utc(last_due_hour(at(2026, 11, 25, 5, 59), 9, tz)),
            at(2026, 11, 24, 6, 0)
        );
        // Never after now, and the next one is strictly after.
        let now = at(2026, 3, 8, 12, 0);
        for hour in 0..24 {
            let last = last_due_hour(now, hour, "America/New_York");
            let next = next_due_hour(now, hour, "America/New_York");
            assert!(last <= epoch_hour(now) && next > epoch_hour(now), "{hour}");
            assert!(next - last <= 25, "{hour}: {last} {next}");
        }
    }
}
