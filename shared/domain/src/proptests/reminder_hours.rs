//! Reminder times across time zones and daylight saving (2023 to 2037, the years in which
//! every offset change falls on a UTC quarter hour: see `reminder_hours`' database test).
//!
//! The due times are held to a definition read off the wall clock, independent of how the
//! module asks chrono: a day's `hour`:00 is due at the first UTC quarter hour at which the
//! local clock reads that day's `hour`:00 or later. That is `hour`:00 itself when the day has
//! it, the first of the two when the clocks go back over it (Chatham's go back from 03:45 to
//! 02:45, and read 03:00 twice), and the end of the gap (the instant the clocks jump) when
//! they go forward over it.

use std::sync::LazyLock;

use chrono::{DateTime, NaiveDateTime, Offset, TimeZone, Timelike, Utc};
use chrono_tz::Tz;
use proptest::prelude::*;

use crate::reminder_hours::*;

const QUARTER: i64 = 15;

fn seconds(y: i32) -> i64 {
    Utc.with_ymd_and_hms(y, 1, 1, 0, 0, 0).unwrap().timestamp()
}

/// The wall clock in `tz` at the start of UTC minute `m`.
fn wall(tz: &Tz, m: i64) -> NaiveDateTime {
    minute_start(m).with_timezone(tz).naive_local()
}

/// Whether minute `m` is the first at which the clock in `tz` reads `hour`:00 of its day or
/// later. Clocks go back by an hour at most (from 2023), so three hours before it settle it.
fn reaches(tz: &Tz, m: i64, hour: u8) -> bool {
    let now = wall(tz, m);
    let target = now.date().and_hms_opt(u32::from(hour), 0, 0).unwrap();
    target <= now && (1..=12).all(|k| wall(tz, m - k * QUARTER) < target)
}

/// The first due minute strictly after minute `after`, by the wall-clock definition.
fn expected_next(tz: &Tz, after: i64, hour: u8) -> i64 {
    let first = (after.div_euclid(QUARTER) + 1) * QUARTER;
    (0..27 * 4)
        .map(|i| first + i * QUARTER)
        .find(|&m| reaches(tz, m, hour))
        .expect("every day comes to each hour")
}

/// The latest due minute at or before minute `now`, by the wall-clock definition.
fn expected_last(tz: &Tz, now: i64, hour: u8) -> i64 {
    let first = now.div_euclid(QUARTER) * QUARTER;
    (0..27 * 4)
        .map(|i| first - i * QUARTER)
        .find(|&m| reaches(tz, m, hour))
        .expect("every day comes to each hour")
}

/// Zones with daylight saving of every kind: an hour (New York, London), at midnight
/// (Havana, Santiago), on Ramadan (Casablanca), half-hour zones and a half-hour change
/// (Adelaide, St John's, Lord Howe), a 45-minute zone (Chatham), and zones with none (Kolkata
/// +5:30, Kathmandu +5:45, Eucla +8:45).
const ZONES: [&str; 12] = [
    "America/New_York",
    "Europe/London",
    "America/Havana",
    "America/Santiago",
    "Africa/Casablanca",
    "Australia/Adelaide",
    "America/St_Johns",
    "Australia/Lord_Howe",
    "Pacific/Chatham",
    "Asia/Kolkata",
    "Asia/Kathmandu",
    "Australia/Eucla",
];

/// Every offset change of the daylight-saving zones of [`ZONES`], 2023 to 2037: (zone, the
/// first second of the new offset).
static CHANGES: LazyLock<Vec<(Tz, i64)>> = LazyLock::new(|| {
    let offset = |tz: &Tz, t: i64| {
        tz.offset_from_utc_datetime(&DateTime::from_timestamp(t, 0).unwrap().naive_utc())
            .fix()
            .local_minus_utc()
    };
    let mut changes = Vec::new();
    for tz in ZONES.map(|z| z.parse::<Tz>().unwrap()) {
        let mut t = seconds(2023);
        while t < seconds(2037) {
            let step = 6 * 3600;
            if offset(&tz, t) != offset(&tz, t + step) {
                let (mut lo, mut hi) = (t, t + step);
                while hi - lo > 1 {
                    let mid = (lo + hi) / 2;
                    if offset(&tz, mid) == offset(&tz, lo) {
                        lo = mid;
                    } else {
                        hi = mid;
                    }
                }
                changes.push((tz, hi));
            }
            t += step;
        }
    }
    changes
});

/// Any zone at all at any instant of 2023–2036, or (as often) one of [`ZONES`] within 30
/// hours of one of its offset changes.
fn zone_and_instant() -> impl Strategy<Value = (Tz, DateTime<Utc>)> {
    let anywhere = (
        (0..chrono_tz::TZ_VARIANTS.len()).prop_map(|i| chrono_tz::TZ_VARIANTS[i]),
        seconds(2023)..seconds(2037),
    );
    let near_a_change = (0..CHANGES.len(), -30 * 3600..30 * 3600i64).prop_map(|(i, d)| {
        let (tz, at) = CHANGES[i];
        (tz, at + d)
    });
    prop_oneof![anywhere, near_a_change]
        .prop_map(|(tz, t)| (tz, DateTime::from_timestamp(t, 0).unwrap()))
}

/// The changes the strategy centres on are there: about two a year in each of the nine zones
/// with daylight saving.
#[test]
fn the_zones_change_their_offsets_twice_a_year() {
    assert!(
        (9 * 2 * 13..=9 * 2 * 15).contains(&CHANGES.len()),
        "{}",
        CHANGES.len()
    );
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(3000))]

    /// The next and the last due minute are the ones the wall clock defines: `hour`:00 local
    /// when the day has it (the first when it comes twice), else the end of the gap; never
    /// early, none skipped, whatever the zone's offset or change.
    #[test]
    fn due_minutes_follow_the_wall_clock(
        (tz, now) in zone_and_instant(),
        hour in 0u8..24,
    ) {
        let name = tz.name();
        let minute = epoch_minute(now);
        let next = next_due_minute(now, hour, name);
        let last = last_due_minute(now, hour, name);
        prop_assert_eq!(
            (minute_start(next), minute_start(last)),
            (minute_start(expected_next(&tz, minute, hour)), minute_start(expected_last(&tz, minute, hour))),
            "{} at {}, hour {}", name, now, hour
        );
        // Where the day has `hour`:00, the due minute shows it on the local clock.
        let local = minute_start(next).with_timezone(&tz);
        let has_it = tz
            .from_local_datetime(&local.date_naive().and_hms_opt(u32::from(hour), 0, 0).unwrap())
            .earliest()
            .is_some();
        if has_it {
            prop_assert_eq!((local.hour(), local.minute()), (u32::from(hour), 0));
        }
    }

    /// From any instant: the next due minute is strictly later and the last at or before it,
    /// both on a UTC quarter hour, 23 to 25 hours apart (a day, give or take a change), and
    /// the next from the last is the next from now (nothing lies between them).
    #[test]
    fn never_early_never_skipped((tz, now) in zone_and_instant(), hour in 0u8..24) {
        let name = tz.name();
        let n = next_due_minute(now, hour, name);
        let l = last_due_minute(now, hour, name);
        prop_assert!(n > epoch_minute(now));
        prop_assert!(l <= epoch_minute(now));
        prop_assert_eq!(n.rem_euclid(QUARTER), 0);
        prop_assert_eq!(l.rem_euclid(QUARTER), 0);
        prop_assert!((23 * 60..=25 * 60).contains(&(n - l)), "{} {}", n, l);
        prop_assert_eq!(next_due_minute(minute_start(l), hour, name), n);
    }

    /// A late run measures lateness from the real occurrence: at any minute between an
    /// occurrence and the next, the last due minute is that occurrence, so "at most N minutes
    /// late" is exact in real minutes, daylight saving or not.
    #[test]
    fn lateness_is_measured_from_the_occurrence(
        (tz, now) in zone_and_instant(),
        hour in 0u8..24,
        late in 0i64..23 * 60,
    ) {
        let name = tz.name();
        let due = next_due_minute(now, hour, name);
        prop_assert_eq!(last_due_minute(minute_start(due), hour, name), due);
        prop_assert!(last_due_minute(minute_start(due - 1), hour, name) < due);
        let then = minute_start(due + late);
        prop_assert_eq!(last_due_minute(then, hour, name), due, "{} minutes late", late);
    }

    /// A stored value written before issue 22 (the due minute rounded down to its UTC hour)
    /// stands for the exact minute; a minute value stands for itself.
    #[test]
    fn legacy_hour_values_stand_for_their_minute((tz, now) in zone_and_instant(), hour in 0u8..24) {
        let name = tz.name();
        let due = next_due_minute(now, hour, name);
        prop_assert_eq!(stored_due_minute(due.div_euclid(60), hour, name), due);
        prop_assert_eq!(stored_due_minute(due, hour, name), due);
    }
}
