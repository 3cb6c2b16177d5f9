//! Validated input types: what clients send is parsed into these at the edge, so the rest
//! of the code never sees an unchecked string. Errors are short messages the edge attaches
//! to the field that carried the value.

use std::fmt;

fn char_len(s: &str) -> usize {
    s.chars().count()
}

fn has_control(s: &str) -> bool {
    s.chars().any(char::is_control)
}

/// An email address as registered (case kept), compared through [`Email::key`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Email(String);

impl Email {
    pub const MAX_LEN: usize = 254;

    pub fn parse(raw: &str) -> Result<Self, &'static str> {
        if raw.is_empty() {
            return Err("must not be empty");
        }
        if char_len(raw) > Self::MAX_LEN {
            return Err("must be at most 254 characters");
        }
        if raw.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err("must not contain spaces or control characters");
        }
        if !email_address::EmailAddress::is_valid(raw) {
            return Err("must be a valid email address");
        }
        let domain = raw.rsplit_once('@').map(|(_, d)| d).unwrap_or_default();
        if !domain.contains('.') || domain.starts_with('.') || domain.ends_with('.') {
            return Err("must be a valid email address");
        }
        Ok(Self(raw.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The case-insensitive identity of the address: what uniqueness and login compare.
    pub fn key(&self) -> String {
        self.0.to_lowercase()
    }
}

/// A password as typed: 8..=128 characters, anything allowed (NIST SP 800-63B).
#[derive(Clone)]
pub struct Password(String);

impl Password {
    pub fn parse(raw: &str) -> Result<Self, &'static str> {
        match char_len(raw) {
            0..8 => Err("must be at least 8 characters"),
            8..=128 => Ok(Self(raw.to_owned())),
            _ => Err("must be at most 128 characters"),
        }
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Password {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Password(<redacted>)")
    }
}

/// A display name: 1..=50 characters after trimming, no control characters. Stored trimmed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DisplayName(String);

impl DisplayName {
    pub fn parse(raw: &str) -> Result<Self, &'static str> {
        let trimmed = raw.trim();
        if trimmed.is_empty() {
            return Err("must contain a non-space character");
        }
        if char_len(trimmed) > 50 {
            return Err("must be at most 50 characters");
        }
        if has_control(trimmed) {
            return Err("must not contain control characters");
        }
        Ok(Self(trimmed.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Hour of the day (0..=23) at which the daily reminder is due, in the user's timezone.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReminderHour(u8);

impl ReminderHour {
    pub fn parse(raw: i64) -> Result<Self, &'static str> {
        u8::try_from(raw)
            .ok()
            .filter(|h| *h < 24)
            .map(Self)
            .ok_or("must be an integer from 0 to 23")
    }

    pub fn get(self) -> u8 {
        self.0
    }
}

/// An IANA timezone name such as `Europe/Istanbul`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TimeZone(String);

impl TimeZone {
    pub fn parse(raw: &str) -> Result<Self, &'static str> {
        raw.parse::<chrono_tz::Tz>()
            .map(|tz| Self(tz.name().to_owned()))
            .map_err(|_| "must be an IANA timezone name such as Europe/Istanbul")
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Every name [`TimeZone::parse`] accepts (the OpenAPI document's enum is held to it).
    pub fn names() -> impl Iterator<Item = &'static str> {
        chrono_tz::TZ_VARIANTS.iter().map(|tz| tz.name())
    }
}

/// Text stored exactly as sent: `min..=max` characters with at least one non-space, and no
/// control characters other than line breaks and tabs when `multiline`.
fn exact_text(raw: &str, max: usize, multiline: bool) -> Result<String, &'static str> {
    if raw.trim().is_empty() {
        return Err("must contain a non-space character");
    }
    if char_len(raw) > max {
        return Err(match max {
            200 => "must be at most 200 characters",
            2000 => "must be at most 2000 characters",
            _ => "must be at most 10000 characters",
        });
    }
    let allowed = |c: char| multiline && matches!(c, '\n' | '\r' | '\t');
    if raw.chars().any(|c| c.is_control() && !allowed(c)) {
        return Err(if multiline {
            "must not contain control characters other than line breaks and tabs"
        } else {
            "must not contain control characters"
        });
    }
    Ok(raw.to_owned())
}

/// A post title: 1..=200 characters, one line, stored exactly as sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PostTitle(String);

impl PostTitle {
    pub fn parse(raw: &str) -> Result<Self, &'static str> {
        exact_text(raw, 200, false).map(Self)
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A post body: 1..=10000 characters, line breaks allowed, stored exactly as sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PostContent(String);

impl PostContent {
    pub fn parse(raw: &str) -> Result<Self, &'static str> {
        exact_text(raw, 10_000, true).map(Self)
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A comment: 1..=2000 characters, line breaks allowed, stored exactly as sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommentContent(String);

impl CommentContent {
    pub fn parse(raw: &str) -> Result<Self, &'static str> {
        exact_text(raw, 2000, true).map(Self)
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// The largest id we mint or accept: ids stay exact in JavaScript.
pub const MAX_ID: i64 = (1 << 53) - 1;

/// An id from a path segment. Anything that is not a positive integer we could have issued
/// names nothing, so it is a 404 (not a 400 or 500).
pub fn parse_path_id(raw: &str) -> Option<i64> {
    if raw.is_empty() || raw.len() > 16 || !raw.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    raw.parse().ok().filter(|id| (1..=MAX_ID).contains(id))
}

/// `?limit=1..=100`, 20 when absent.
pub fn parse_limit(raw: Option<&str>) -> Result<u32, &'static str> {
    match raw {
        None => Ok(20),
        Some(s) => s
            .parse::<u32>()
            .ok()
            .filter(|n| (1..=100).contains(n))
            .ok_or("must be an integer from 1 to 100"),
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    Member,
    Admin,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Member => "member",
            Role::Admin => "admin",
        }
    }

    pub fn parse(raw: &str) -> Option<Self> {
        match raw {
            "member" => Some(Role::Member),
            "admin" => Some(Role::Admin),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emails_compare_case_insensitively_but_keep_their_case() {
        let e = Email::parse("Ada.Lovelace@Example.COM").unwrap();
        assert_eq!(e.as_str(), "Ada.Lovelace@Example.COM");
        assert_eq!(e.key(), "ada.lovelace@example.com");
    }

    #[test]
    fn malformed_emails_are_rejected() {
        for bad in [
            "", "plain", "a@b", "a b@c.de", "a@@c.de", "@c.de", "a@.de", "a@c.de.",
        ] {
            assert!(Email::parse(bad).is_err(), "{bad:?} accepted");
        }
        let long = format!("{}@example.com", "a".repeat(250));
        assert!(Email::parse(&long).is_err());
    }

    #[test]
    fn passwords_are_eight_to_128_characters_counted_as_characters() {
        assert!(Password::parse("1234567").is_err());
        assert!(Password::parse("12345678").is_ok());
        assert!(Password::parse(&"ş".repeat(128)).is_ok());
        assert!(Password::parse(&"x".repeat(129)).is_err());
    }

    #[test]
    fn password_debug_output_is_redacted() {
        let p = Password::parse("hunter2hunter2").unwrap();
        assert!(!format!("{p:?}").contains("hunter2"));
    }

    #[test]
    fn display_names_are_trimmed_and_reject_control_characters() {
        assert_eq!(DisplayName::parse("  Zeynep  ").unwrap().as_str(), "Zeynep");
        assert!(DisplayName::parse("   ").is_err());
        assert!(DisplayName::parse("a\u{7}b").is_err());
        assert!(DisplayName::parse(&"é".repeat(50)).is_ok());
        assert!(DisplayName::parse(&"é".repeat(51)).is_err());
        let rtl = "مرحبا 👋🏽 e\u{301}";
        assert_eq!(DisplayName::parse(rtl).unwrap().as_str(), rtl);
    }

    #[test]
    fn reminder_hours_and_timezones_are_checked() {
        assert!(ReminderHour::parse(0).is_ok());
        assert!(ReminderHour::parse(23).is_ok());
        assert!(ReminderHour::parse(24).is_err());
        assert!(ReminderHour::parse(-1).is_err());
        assert_eq!(
            TimeZone::parse("Europe/Istanbul").unwrap().as_str(),
            "Europe/Istanbul"
        );
        assert!(TimeZone::parse("Mars/Olympus").is_err());
    }

    #[test]
    fn titles_and_contents_are_kept_exactly_but_need_a_visible_character() {
        let title = "  Merhaba 👋🏽 مرحبا e\u{301} ";
        assert_eq!(PostTitle::parse(title).unwrap().as_str(), title);
        assert!(PostTitle::parse(" \u{3000} ").is_err());
        assert!(PostTitle::parse("two\nlines").is_err());
        assert!(PostTitle::parse(&"ç".repeat(200)).is_ok());
        assert!(PostTitle::parse(&"ç".repeat(201)).is_err());
        assert_eq!(PostContent::parse("a\n\tb").unwrap().as_str(), "a\n\tb");
        assert!(PostContent::parse("bell\u{7}").is_err());
        assert!(PostContent::parse("'; DROP TABLE posts; --").is_ok());
        assert!(CommentContent::parse(&"x".repeat(2001)).is_err());
    }

    #[test]
    fn path_ids_must_be_ids_we_could_have_issued() {
        assert_eq!(parse_path_id("42"), Some(42));
        for bad in [
            "",
            "0",
            "-1",
            "1.5",
            "abc",
            "9007199254740992",
            "99999999999999999999",
            "+1",
            " 1",
        ] {
            assert_eq!(parse_path_id(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn limits_default_to_20_and_stay_within_1_to_100() {
        assert_eq!(parse_limit(None), Ok(20));
        assert_eq!(parse_limit(Some("100")), Ok(100));
        for bad in ["0", "101", "-1", "x", ""] {
            assert!(parse_limit(Some(bad)).is_err(), "{bad:?}");
        }
    }
}
