//! EventBridge schedule expressions: `rate(...)`, `cron(...)` and (EventBridge Scheduler's
//! one-time) `at(...)`, with the next fire time after a given instant, in UTC.
//!
//! `cron(Minutes Hours Day-of-month Month Day-of-week Year)` follows EventBridge's rules:
//! `*`, numbers, `a-b` ranges (wrapping, like `FRI-MON`), `/n` steps, comma lists, month and day
//! names (`JAN`, `MON`; day-of-week 1 is Sunday), `L` (last day of the month; `5L` the last
//! Thursday), `W` (`15W` the weekday nearest the 15th, `LW` the last weekday) and `#` (`2#1` the
//! first Monday). One of day-of-month and day-of-week must be `?`.
//!
//! ```
//! use chrono::{TimeZone, Utc};
//! use rota_local::template::ScheduleExpression;
//! let e: ScheduleExpression = "cron(0 9,17 * * ? *)".parse().unwrap();
//! let after = Utc.with_ymd_and_hms(2024, 5, 1, 12, 30, 0).unwrap();
//! assert_eq!(e.next_after(after, after), Some(Utc.with_ymd_and_hms(2024, 5, 1, 17, 0, 0).unwrap()));
//! ```

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, Datelike, Duration, NaiveDate, NaiveDateTime, TimeZone, Timelike, Utc};

/// Years a cron expression may name (EventBridge's range).
const MIN_YEAR: i32 = 1970;
const MAX_YEAR: i32 = 2199;

/// Why an expression was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid schedule expression {expression:?}: {reason}")]
pub struct ExpressionError {
    pub expression: String,
    pub reason: String,
}

/// A parsed schedule expression.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScheduleExpression {
    text: String,
    kind: Kind,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Kind {
    Rate(Duration),
    Cron(Box<Cron>),
    At(DateTime<Utc>),
}

impl ScheduleExpression {
    /// Parses `rate(5 minutes)`, `cron(0 * * * ? *)` or `at(2030-01-01T09:00:00)`.
    pub fn parse(text: &str) -> Result<Self, ExpressionError> {
        let text = text.trim();
        let err = |reason: &str| ExpressionError {
            expression: text.to_string(),
            reason: reason.to_string(),
        };
        let (name, body) = text
            .strip_suffix(')')
            .and_then(|t| t.split_once('('))
            .ok_or_else(|| err("expected rate(...), cron(...) or at(...)"))?;
        let kind = match name.trim() {
            "rate" => Kind::Rate(parse_rate(body.trim()).map_err(|r| err(&r))?),
            "cron" => Kind::Cron(Box::new(Cron::parse(body.trim()).map_err(|r| err(&r))?)),
            "at" => Kind::At(
                NaiveDateTime::parse_from_str(body.trim(), "%Y-%m-%dT%H:%M:%S")
                    .map_err(|_| err("at() takes yyyy-mm-ddThh:mm:ss"))?
                    .and_utc(),
            ),
            _ => return Err(err("expected rate(...), cron(...) or at(...)")),
        };
        Ok(Self {
            text: text.to_string(),
            kind,
        })
    }

    /// The expression as written.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// The period of a `rate()` expression.
    pub fn rate(&self) -> Option<Duration> {
        match self.kind {
            Kind::Rate(d) => Some(d),
            _ => None,
        }
    }

    /// The first fire time strictly after `after`, or `None` if there is none (a past `at()`,
    /// a cron whose years are over). A `rate()` fires at `anchor + k × period` (k ≥ 1): `anchor`
    /// is when the schedule started (EventBridge: when the rule was created). Cron and rate times
    /// are whole seconds.
    pub fn next_after(&self, after: DateTime<Utc>, anchor: DateTime<Utc>) -> Option<DateTime<Utc>> {
        match &self.kind {
            Kind::Rate(period) => {
                let anchor = anchor.with_nanosecond(0)?;
                let period_ms = period.num_milliseconds();
                let elapsed_ms = (after - anchor).num_milliseconds();
                let k = if elapsed_ms < 0 {
                    1
                } else {
                    elapsed_ms / period_ms + 1
                };
                anchor.checked_add_signed(Duration::milliseconds(period_ms.checked_mul(k)?))
            }
            Kind::Cron(cron) => cron.next_after(after),
            Kind::At(t) => (*t > after).then_some(*t),
        }
    }
}

impl FromStr for ScheduleExpression {
    type Err = ExpressionError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

impl fmt::Display for ScheduleExpression {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

/// `5 minutes` → 5 min. Like EventBridge, a value of 1 takes the singular unit and any other
/// value the plural.
fn parse_rate(body: &str) -> Result<Duration, String> {
    let mut parts = body.split_whitespace();
    let (Some(value), Some(unit), None) = (parts.next(), parts.next(), parts.next()) else {
        return Err("rate() takes a value and a unit, e.g. rate(5 minutes)".into());
    };
    let value: i64 = value
        .parse()
        .ok()
        .filter(|v| *v > 0)
        .ok_or("the rate value must be a positive whole number")?;
    let (singular, seconds) = match unit {
        "minute" | "minutes" => ("minute", 60),
        "hour" | "hours" => ("hour", 3600),
        "day" | "days" => ("day", 86_400),
        _ => {
            return Err(format!(
                "unknown rate unit {unit:?} (minutes, hours or days)"
            ));
        }
    };
    let plural = unit != singular;
    if (value == 1) == plural {
        return Err(if value == 1 {
            format!("a value of 1 takes the singular unit ({singular})")
        } else {
            format!("a value other than 1 takes the plural unit ({singular}s)")
        });
    }
    value
        .checked_mul(seconds)
        .and_then(Duration::try_seconds)
        .ok_or_else(|| "rate is too long".into())
}

/// A parsed cron expression.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Cron {
    /// Bit n: minute n.
    minutes: u64,
    /// Bit n: hour n.
    hours: u32,
    /// Bit n: month n (1–12).
    months: u16,
    days: DaySpec,
    /// Bit (y − 1970) set for each allowed year; `None`: every year.
    years: Option<Vec<bool>>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum DaySpec {
    /// Day-of-week is `?`.
    OfMonth(DayOfMonth),
    /// Day-of-month is `?`.
    OfWeek(DayOfWeek),
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
struct DayOfMonth {
    /// Bit n: day n (1–31).
    days: u32,
    /// `L`.
    last: bool,
    /// `LW`.
    last_weekday: bool,
    /// `nW`.
    nearest_weekday: Vec<u32>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
struct DayOfWeek {
    /// Bit n: weekday n (1 = Sunday … 7 = Saturday).
    days: u8,
    /// `nL`: bit n set for "the last weekday n of the month".
    last_of_month: u8,
    /// `d#n`: (weekday, n).
    nth: Vec<(u32, u32)>,
}

const MONTH_NAMES: [&str; 12] = [
    "JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC",
];
const DAY_NAMES: [&str; 7] = ["SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"];

impl Cron {
    fn parse(body: &str) -> Result<Self, String> {
        let fields: Vec<&str> = body.split_whitespace().collect();
        let [minute, hour, dom, month, dow, year] = fields.as_slice() else {
            return Err(format!(
                "cron() takes 6 fields (minutes hours day-of-month month day-of-week year), got {}",
                fields.len()
            ));
        };
        let minutes = values(minute, 0, 59, &[]).map_err(|e| format!("minutes: {e}"))?;
        let hours = values(hour, 0, 23, &[]).map_err(|e| format!("hours: {e}"))?;
        let months = values(month, 1, 12, &MONTH_NAMES).map_err(|e| format!("month: {e}"))?;
        let years = if *year == "*" {
            None
        } else {
            let set = values(year, MIN_YEAR as u32, MAX_YEAR as u32, &[])
                .map_err(|e| format!("year: {e}"))?;
            let mut bits = vec![false; (MAX_YEAR - MIN_YEAR + 1) as usize];
            for y in set {
                bits[(y - MIN_YEAR as u32) as usize] = true;
            }
            Some(bits)
        };
        let days = match (*dom == "?", *dow == "?") {
            (true, true) => return Err("day-of-month and day-of-week cannot both be ?".into()),
            (false, false) => {
                return Err(
                    "one of day-of-month and day-of-week must be ? (they cannot both be set)"
                        .into(),
                );
            }
            (false, true) => {
                DaySpec::OfMonth(parse_day_of_month(dom).map_err(|e| format!("day-of-month: {e}"))?)
            }
            (true, false) => {
                DaySpec::OfWeek(parse_day_of_week(dow).map_err(|e| format!("day-of-week: {e}"))?)
            }
        };
        Ok(Self {
            minutes: minutes.iter().fold(0, |m, v| m | 1 << v),
            hours: hours.iter().fold(0, |m, v| m | 1 << v),
            months: months.iter().fold(0, |m, v| m | 1 << v),
            days,
            years,
        })
    }

    fn year_ok(&self, year: i32) -> bool {
        match &self.years {
            None => (MIN_YEAR..=MAX_YEAR).contains(&year),
            Some(bits) => year
                .checked_sub(MIN_YEAR)
                .and_then(|i| bits.get(usize::try_from(i).ok()?))
                .copied()
                .unwrap_or(false),
        }
    }

    fn day_ok(&self, date: NaiveDate) -> bool {
        match &self.days {
            DaySpec::OfMonth(d) => d.matches(date),
            DaySpec::OfWeek(d) => d.matches(date),
        }
    }

    fn next_after(&self, after: DateTime<Utc>) -> Option<DateTime<Utc>> {
        // The next whole minute after `after`.
        let start = after.naive_utc().with_second(0)?.with_nanosecond(0)? + Duration::minutes(1);
        let mut t = start;
        // Each step advances at least to the next minute and skips whole years, months, days and
        // hours that cannot match, so this bound is never reached for a satisfiable expression.
        for _ in 0..1_000_000 {
            let date = t.date();
            if t.year() > MAX_YEAR {
                return None;
            }
            if !self.year_ok(t.year()) {
                t = NaiveDate::from_ymd_opt(t.year() + 1, 1, 1)?.and_hms_opt(0, 0, 0)?;
                continue;
            }
            if self.months & (1 << t.month()) == 0 {
                t = first_of_next_month(date)?.and_hms_opt(0, 0, 0)?;
                continue;
            }
            if !self.day_ok(date) {
                t = date.succ_opt()?.and_hms_opt(0, 0, 0)?;
                continue;
            }
            if self.hours & (1 << t.hour()) == 0 {
                t = date.and_hms_opt(t.hour(), 0, 0)? + Duration::hours(1);
                continue;
            }
            if self.minutes & (1 << t.minute()) == 0 {
                t += Duration::minutes(1);
                continue;
            }
            return Some(Utc.from_utc_datetime(&t));
        }
        None
    }
}

impl DayOfMonth {
    fn matches(&self, date: NaiveDate) -> bool {
        let day = date.day();
        let last = last_day_of_month(date);
        if self.days & (1 << day) != 0 || (self.last && day == last) {
            return true;
        }
        if self.last_weekday && day == nearest_weekday(date, last) {
            return true;
        }
        self.nearest_weekday
            .iter()
            .any(|&n| n <= last && day == nearest_weekday(date, n))
    }
}

impl DayOfWeek {
    fn matches(&self, date: NaiveDate) -> bool {
        let weekday = date.weekday().num_days_from_sunday() + 1;
        if self.days & (1 << weekday) != 0 {
            return true;
        }
        if self.last_of_month & (1 << weekday) != 0 && date.day() + 7 > last_day_of_month(date) {
            return true;
        }
        let nth = (date.day() - 1) / 7 + 1;
        self.nth.iter().any(|&(d, n)| d == weekday && n == nth)
    }
}

fn first_of_next_month(date: NaiveDate) -> Option<NaiveDate> {
    if date.month() == 12 {
        NaiveDate::from_ymd_opt(date.year() + 1, 1, 1)
    } else {
        NaiveDate::from_ymd_opt(date.year(), date.month() + 1, 1)
    }
}

fn last_day_of_month(date: NaiveDate) -> u32 {
    first_of_next_month(date)
        .and_then(|d| d.pred_opt())
        .map_or(28, |d| d.day())
}

/// The weekday (Mon–Fri) of `date`'s month nearest to day `n`, never leaving the month.
fn nearest_weekday(date: NaiveDate, n: u32) -> u32 {
    let Some(target) = date.with_day(n) else {
        return 0;
    };
    let last = last_day_of_month(date);
    match target.weekday() {
        chrono::Weekday::Sat if n == 1 => 3,
        chrono::Weekday::Sat => n - 1,
        chrono::Weekday::Sun if n == last => n - 2,
        chrono::Weekday::Sun => n + 1,
        _ => n,
    }
}

fn parse_day_of_month(field: &str) -> Result<DayOfMonth, String> {
    let mut spec = DayOfMonth::default();
    for item in field.split(',') {
        match item {
            "L" => spec.last = true,
            "LW" => spec.last_weekday = true,
            _ => {
                if let Some(n) = item.strip_suffix('W') {
                    let n: u32 = n
                        .parse()
                        .ok()
                        .filter(|n| (1..=31).contains(n))
                        .ok_or_else(|| format!("bad weekday item {item:?}"))?;
                    spec.nearest_weekday.push(n);
                } else {
                    for v in values(item, 1, 31, &[])? {
                        spec.days |= 1 << v;
                    }
                }
            }
        }
    }
    Ok(spec)
}

fn parse_day_of_week(field: &str) -> Result<DayOfWeek, String> {
    let mut spec = DayOfWeek::default();
    let day = |s: &str| -> Result<u32, String> { single(s, 1, 7, &DAY_NAMES) };
    for item in field.split(',') {
        if item == "L" {
            // Alone, L is the last day of the week: Saturday.
            spec.days |= 1 << 7;
        } else if let Some(d) = item.strip_suffix('L') {
            spec.last_of_month |= 1 << day(d)?;
        } else if let Some((d, n)) = item.split_once('#') {
            let n: u32 = n
                .parse()
                .ok()
                .filter(|n| (1..=5).contains(n))
                .ok_or_else(|| format!("bad # item {item:?} (the week is 1-5)"))?;
            spec.nth.push((day(d)?, n));
        } else {
            for v in values(item, 1, 7, &DAY_NAMES)? {
                spec.days |= 1 << v;
            }
        }
    }
    Ok(spec)
}

/// One number or name in `min..=max` (`names[0]` stands for `min`).
fn single(s: &str, min: u32, max: u32, names: &[&str]) -> Result<u32, String> {
    if let Some(i) = names.iter().position(|n| n.eq_ignore_ascii_case(s)) {
        return Ok(min + i as u32);
    }
    s.parse::<u32>()
        .ok()
        .filter(|v| (min..=max).contains(v))
        .ok_or_else(|| format!("{s:?} is not a value in {min}-{max}"))
}

/// The values of a field made of comma-separated `*`, `n`, `a-b` items, each with an optional
/// `/step`.
fn values(field: &str, min: u32, max: u32, names: &[&str]) -> Result<Vec<u32>, String> {
    let mut out = Vec::new();
    for item in field.split(',') {
        if item.is_empty() {
            return Err(format!("empty item in {field:?}"));
        }
        let (range, step) = match item.split_once('/') {
            Some((r, s)) => {
                let step: u32 = s
                    .parse()
                    .ok()
                    .filter(|s| *s > 0)
                    .ok_or_else(|| format!("bad step in {item:?}"))?;
                (r, Some(step))
            }
            None => (item, None),
        };
        let (start, end) = if range == "*" {
            (min, max)
        } else if let Some((a, b)) = range.split_once('-') {
            (single(a, min, max, names)?, single(b, min, max, names)?)
        } else {
            let a = single(range, min, max, names)?;
            // `a/n` runs from a to the end of the range.
            (a, if step.is_some() { max } else { a })
        };
        // A range may wrap (`FRI-MON`, `22-2`).
        let span: Vec<u32> = if start <= end {
            (start..=end).collect()
        } else {
            (start..=max).chain(min..=end).collect()
        };
        out.extend(span.into_iter().step_by(step.unwrap_or(1) as usize));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    /// The first `n` times `expr` fires after `after` (fewer when it stops firing).
    fn fires(expr: &str, after: &str, n: usize) -> Vec<String> {
        let e = ScheduleExpression::parse(expr).unwrap();
        let mut at = t(after);
        let mut out = Vec::new();
        while out.len() < n {
            let Some(next) = e.next_after(at, t(after)) else {
                break;
            };
            at = next;
            out.push(at.format("%Y-%m-%dT%H:%M:%SZ").to_string());
        }
        out
    }

    #[test]
    fn rate_fires_every_period_from_the_anchor() {
        let e = ScheduleExpression::parse("rate(5 minutes)").unwrap();
        let anchor = t("2024-05-01T10:00:30.250Z");
        assert_eq!(e.rate(), Some(Duration::minutes(5)));
        assert_eq!(
            e.next_after(anchor, anchor),
            Some(t("2024-05-01T10:05:30Z"))
        );
        assert_eq!(
            e.next_after(t("2024-05-01T10:05:30Z"), anchor),
            Some(t("2024-05-01T10:10:30Z"))
        );
        assert_eq!(
            e.next_after(t("2024-05-01T10:07:00Z"), anchor),
            Some(t("2024-05-01T10:10:30Z"))
        );
        // Before the anchor: the first period still counts from the anchor.
        assert_eq!(
            e.next_after(t("2024-05-01T09:00:00Z"), anchor),
            Some(t("2024-05-01T10:05:30Z"))
        );
        let h = ScheduleExpression::parse("rate(1 hour)").unwrap();
        assert_eq!(
            h.next_after(t("2024-05-01T12:00:00Z"), t("2024-05-01T10:15:00Z")),
            Some(t("2024-05-01T12:15:00Z"))
        );
        let d = ScheduleExpression::parse("rate(2 days)").unwrap();
        assert_eq!(d.rate(), Some(Duration::days(2)));
        assert!(ScheduleExpression::parse("rate(1 minute)").is_ok());
    }

    #[test]
    fn rate_errors() {
        for bad in [
            "rate(1 minutes)",
            "rate(5 minute)",
            "rate(0 minutes)",
            "rate(-1 minutes)",
            "rate(5 weeks)",
            "rate(five minutes)",
            "rate(5)",
            "rate 5 minutes",
        ] {
            assert!(ScheduleExpression::parse(bad).is_err(), "{bad}");
        }
    }

    /// `(expression, after, the times it fires next)`: as many as listed, and no more when it
    /// stops firing.
    const CRON_FIRES: &[(&str, &str, &[&str])] = &[
        // Hourly.
        (
            "cron(0 * * * ? *)",
            "2024-05-01T10:00:00Z",
            &["2024-05-01T11:00:00Z"],
        ),
        (
            "cron(0 * * * ? *)",
            "2024-05-01T10:59:59.999Z",
            &["2024-05-01T11:00:00Z"],
        ),
        // Lists.
        (
            "cron(0,30 8,20 * * ? *)",
            "2024-05-01T08:10:00Z",
            &[
                "2024-05-01T08:30:00Z",
                "2024-05-01T20:00:00Z",
                "2024-05-01T20:30:00Z",
                "2024-05-02T08:00:00Z",
                "2024-05-02T08:30:00Z",
            ],
        ),
        // Year and month roll over.
        (
            "cron(15 23 * * ? *)",
            "2024-12-31T23:15:00Z",
            &["2025-01-01T23:15:00Z"],
        ),
        // Steps.
        (
            "cron(*/20 * * * ? *)",
            "2024-05-01T10:05:00Z",
            &[
                "2024-05-01T10:20:00Z",
                "2024-05-01T10:40:00Z",
                "2024-05-01T11:00:00Z",
            ],
        ),
        (
            "cron(5/20 9-10 * * ? *)",
            "2024-05-01T10:30:00Z",
            &[
                "2024-05-01T10:45:00Z",
                "2024-05-02T09:05:00Z",
                "2024-05-02T09:25:00Z",
            ],
        ),
        // Every minute.
        (
            "cron(* * * * ? *)",
            "2024-05-01T10:00:10Z",
            &["2024-05-01T10:01:00Z"],
        ),
        // Weekdays at 18:00 (2024-05-03 is a Friday).
        (
            "cron(0 18 ? * MON-FRI *)",
            "2024-05-03T18:00:00Z",
            &["2024-05-06T18:00:00Z", "2024-05-07T18:00:00Z"],
        ),
        // Numeric day-of-week: 1 is Sunday.
        (
            "cron(0 12 ? * 1 *)",
            "2024-05-01T00:00:00Z",
            &["2024-05-05T12:00:00Z"],
        ),
        // Wrapping range FRI-MON.
        (
            "cron(0 0 ? * FRI-MON *)",
            "2024-05-01T00:00:00Z",
            &[
                "2024-05-03T00:00:00Z",
                "2024-05-04T00:00:00Z",
                "2024-05-05T00:00:00Z",
                "2024-05-06T00:00:00Z",
            ],
        ),
        // The 31st skips short months.
        (
            "cron(0 0 31 * ? *)",
            "2024-04-01T00:00:00Z",
            &["2024-05-31T00:00:00Z", "2024-07-31T00:00:00Z"],
        ),
        // Month names.
        (
            "cron(0 10 1 JAN,JUL ? *)",
            "2024-02-01T00:00:00Z",
            &["2024-07-01T10:00:00Z"],
        ),
        // 29 February.
        (
            "cron(0 10 29 2 ? *)",
            "2025-01-01T00:00:00Z",
            &["2028-02-29T10:00:00Z"],
        ),
        // Years.
        (
            "cron(0 10 * * ? 2026-2027)",
            "2024-02-01T00:00:00Z",
            &["2026-01-01T10:00:00Z"],
        ),
        // A past year never fires.
        ("cron(0 10 * * ? 2020)", "2024-02-01T00:00:00Z", &[]),
        // Last day of the month.
        (
            "cron(0 0 L * ? *)",
            "2024-01-15T00:00:00Z",
            &["2024-01-31T00:00:00Z", "2024-02-29T00:00:00Z"],
        ),
        // Last Friday (6L) of May 2024: the 31st.
        (
            "cron(0 0 ? * 6L *)",
            "2024-05-01T00:00:00Z",
            &["2024-05-31T00:00:00Z"],
        ),
        // Second Tuesday (3#2) of May 2024: the 14th.
        (
            "cron(0 0 ? * 3#2 *)",
            "2024-05-01T00:00:00Z",
            &["2024-05-14T00:00:00Z"],
        ),
        // Weekday nearest the 4th of May 2024 (a Saturday): Friday the 3rd; of June (a Tuesday).
        (
            "cron(0 0 4W * ? *)",
            "2024-05-01T00:00:00Z",
            &["2024-05-03T00:00:00Z", "2024-06-04T00:00:00Z"],
        ),
        // 1W on a Saturday moves forward to Monday the 3rd (June 2024).
        (
            "cron(0 0 1W * ? *)",
            "2024-05-02T00:00:00Z",
            &["2024-06-03T00:00:00Z"],
        ),
        // Last weekday of June 2024 (the 30th is a Sunday): Friday the 28th.
        (
            "cron(0 0 LW * ? *)",
            "2024-06-01T00:00:00Z",
            &["2024-06-28T00:00:00Z"],
        ),
    ];

    #[test]
    fn cron_fires_as_aws_does() {
        for (expr, after, want) in CRON_FIRES {
            // At least one, so an expression listed as never firing is asked once.
            let got = fires(expr, after, want.len().max(1));
            assert_eq!(got, *want, "{expr} after {after}");
        }
    }

    #[test]
    fn cron_errors() {
        for bad in [
            "cron(0 * * * * *)",
            "cron(0 * ? * ? *)",
            "cron(0 * * *)",
            "cron(60 * * * ? *)",
            "cron(0 24 * * ? *)",
            "cron(0 * 0 * ? *)",
            "cron(0 * * 13 ? *)",
            "cron(0 * ? * 8 *)",
            "cron(0 * * * ? 1969)",
            "cron(0 * * * ? 2200)",
            "cron(0/0 * * * ? *)",
            "cron(0,,1 * * * ? *)",
            "cron(a * * * ? *)",
            "cron(0 * ? * 2#6 *)",
            "hourly",
            "cron 0 * * * ? *",
        ] {
            assert!(ScheduleExpression::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn at_fires_once() {
        let e = ScheduleExpression::parse("at(2030-01-02T03:04:05)").unwrap();
        assert_eq!(
            e.next_after(t("2024-01-01T00:00:00Z"), t("2024-01-01T00:00:00Z")),
            Some(t("2030-01-02T03:04:05Z"))
        );
        assert_eq!(
            e.next_after(t("2030-01-02T03:04:05Z"), t("2024-01-01T00:00:00Z")),
            None
        );
        assert_eq!(e.to_string(), "at(2030-01-02T03:04:05)");
    }
}
