//! The input parsers accept exactly what their documented rules allow, keep what they accept
//! as documented (exactly, or trimmed), and never panic.

use std::collections::HashSet;

use proptest::collection::vec;
use proptest::prelude::*;

use super::{control_char, insert_at, space_char, visible_char};
use crate::input::*;

/// A text parser of posts and comments: its field, its parser (what it stores), its
/// maximum length in characters and whether line breaks and tabs are allowed.
type TextParser = (
    &'static str,
    fn(&str) -> Result<String, &'static str>,
    usize,
    bool,
);

const TEXTS: [TextParser; 3] = [
    (
        "title",
        |s| PostTitle::parse(s).map(|t| t.as_str().to_owned()),
        200,
        false,
    ),
    (
        "post content",
        |s| PostContent::parse(s).map(|t| t.as_str().to_owned()),
        10_000,
        true,
    ),
    (
        "comment",
        |s| CommentContent::parse(s).map(|t| t.as_str().to_owned()),
        2000,
        true,
    ),
];

/// One of [`TEXTS`] and a text for it of visible characters, spaces and (where allowed) line
/// breaks and tabs, with at least one visible character: short, or within a few characters of
/// the maximum either side (a generated part padded with one repeated character, which keeps
/// 10,000-character texts cheap to make).
fn text_case() -> impl Strategy<Value = (TextParser, String)> {
    (0..TEXTS.len()).prop_flat_map(|i| {
        let (_, _, max, multiline) = TEXTS[i];
        let breaks = if multiline {
            vec!['\n', '\r', '\t']
        } else {
            vec![' ']
        };
        let filler = prop_oneof![
            4 => visible_char(),
            1 => space_char(),
            1 => prop::sample::select(breaks),
        ];
        (
            Just(TEXTS[i]),
            vec(filler.clone(), 0..40),
            filler,
            prop_oneof![Just(0), (max - 4)..(max + 4)],
            visible_char(),
            0.0..1.0f64,
        )
            .prop_map(|(parser, part, pad, len, visible, at)| {
                let padding = len.saturating_sub(part.len() + 1);
                let text: String = part
                    .into_iter()
                    .chain(std::iter::repeat_n(pad, padding))
                    .collect();
                (parser, insert_at(&text, at, visible))
            })
    })
}

/// An email address by the common rules: dot-separated atoms of letters, digits and the
/// RFC 5322 specials before the `@`, dot-separated host labels after it, letters mixed in case.
fn email() -> impl Strategy<Value = String> {
    let atom = "[a-zA-Z0-9!#$%&'*+/=?^_`{|}~-]{1,10}";
    let label = "[a-zA-Z0-9]([a-zA-Z0-9-]{0,6}[a-zA-Z0-9])?";
    (vec(atom, 1..4), vec(label, 1..4), "[a-zA-Z]{2,6}")
        .prop_map(|(local, labels, tld)| format!("{}@{}.{tld}", local.join("."), labels.join(".")))
}

/// A string of the characters the parsers care about (so that some are accepted), or any
/// string at all.
fn any_text() -> impl Strategy<Value = String> {
    let mixed = prop_oneof![
        4 => visible_char(),
        1 => space_char(),
        1 => control_char(),
    ];
    prop_oneof![
        vec(mixed, 0..300).prop_map(|c| c.into_iter().collect()),
        any::<String>(),
        "[a-z.@+ -]{0,30}",
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// Text with a visible character, of allowed characters only, is accepted exactly when it
    /// is at most its maximum in characters (not bytes), and stored exactly as sent.
    #[test]
    fn texts_are_accepted_up_to_their_length_and_kept_exactly((parser, text) in text_case()) {
        let (what, parse, max, _) = parser;
        let chars = text.chars().count();
        match parse(&text) {
            Ok(stored) => {
                prop_assert!(chars <= max, "{what}: {chars} characters accepted");
                prop_assert_eq!(stored, text);
            }
            Err(message) => prop_assert!(chars > max, "{what}: refused ({message})"),
        }
    }

    /// A text with a control character it does not allow (any in a title; other than line
    /// breaks and tabs in a post or comment) is refused wherever the character stands.
    #[test]
    fn texts_with_a_forbidden_control_character_are_refused(
        (parser, text) in text_case(),
        control in control_char(),
        at in 0.0..1.0f64,
    ) {
        let (what, parse, _, multiline) = parser;
        prop_assume!(!(multiline && matches!(control, '\n' | '\r' | '\t')));
        let text = insert_at(&text, at, control);
        prop_assert!(parse(&text).is_err(), "{}: {:?} accepted", what, control);
    }

    /// Text of nothing but whitespace (spaces of any width, line breaks, tabs) is refused.
    #[test]
    fn blank_texts_are_refused(
        i in 0..TEXTS.len(),
        blank in vec(prop_oneof![space_char(), prop::sample::select(vec!['\n', '\r', '\t'])], 0..50),
    ) {
        let (what, parse, _, _) = TEXTS[i];
        let blank: String = blank.into_iter().collect();
        prop_assert!(parse(&blank).is_err(), "{}: {:?} accepted", what, blank);
    }

    /// Whatever is sent: what a text parser accepts is stored as sent, within its length, with
    /// a visible character and no forbidden control character.
    #[test]
    fn texts_accept_only_what_their_rule_allows(i in 0..TEXTS.len(), raw in any_text()) {
        let (what, parse, max, multiline) = TEXTS[i];
        if let Ok(stored) = parse(&raw) {
            prop_assert_eq!(&stored, &raw);
            prop_assert!(raw.chars().count() <= max);
            prop_assert!(raw.chars().any(|c| !c.is_whitespace()), "{}: blank accepted", what);
            let allowed = |c: char| multiline && matches!(c, '\n' | '\r' | '\t');
            prop_assert!(!raw.chars().any(|c| c.is_control() && !allowed(c)), "{}", what);
        }
    }

    /// A display name between visible characters is accepted exactly when it is 1..=50
    /// characters, and whitespace around it (line breaks and tabs too) is trimmed off.
    #[test]
    fn display_names_are_trimmed_and_at_most_50_characters(
        first in visible_char(),
        middle in prop_oneof![0..10usize, 44..52usize]
            .prop_flat_map(|n| vec(prop_oneof![4 => visible_char(), 1 => space_char()], n)),
        last in proptest::option::of(visible_char()),
        before in vec(prop_oneof![space_char(), Just('\t'), Just('\n')], 0..4),
        after in vec(prop_oneof![space_char(), Just('\t'), Just('\n')], 0..4),
    ) {
        let mut name = String::from(first);
        if let Some(last) = last {
            name.extend(middle);
            name.push(last);
        }
        let padded: String = before.into_iter().chain(name.chars()).chain(after).collect();
        let chars = name.chars().count();
        match DisplayName::parse(&padded) {
            Ok(stored) => {
                prop_assert!(chars <= 50);
                prop_assert_eq!(stored.as_str(), name.as_str());
            }
            Err(message) => prop_assert!(chars > 50, "refused: {}", message),
        }
    }

    /// A control character inside a display name (not trimmed off) is refused.
    #[test]
    fn display_names_with_a_control_character_inside_are_refused(
        first in visible_char(),
        middle in vec(visible_char(), 0..20),
        last in visible_char(),
        control in control_char(),
        at in 0.0..1.0f64,
    ) {
        let middle = insert_at(&middle.into_iter().collect::<String>(), at, control);
        let name = format!("{first}{middle}{last}");
        prop_assert!(DisplayName::parse(&name).is_err(), "{:?} accepted", name);
    }

    /// Whatever is sent: surrounding whitespace never changes the answer, and what is accepted
    /// is the trimmed text, 1..=50 characters without control characters, which parses to
    /// itself.
    #[test]
    fn display_names_accept_only_what_their_rule_allows(
        raw in any_text(),
        pad in vec(prop_oneof![space_char(), Just('\n')], 0..3),
    ) {
        let pad: String = pad.into_iter().collect();
        let parsed = DisplayName::parse(&raw);
        prop_assert_eq!(&DisplayName::parse(&format!("{pad}{raw}{pad}")), &parsed);
        if let Ok(name) = parsed {
            let stored = name.as_str();
            prop_assert_eq!(stored, raw.trim());
            prop_assert!((1..=50).contains(&stored.chars().count()));
            prop_assert!(!stored.chars().any(char::is_control));
            prop_assert_eq!(DisplayName::parse(stored), Ok(name.clone()));
        }
    }

    /// Well-formed addresses are accepted as sent (case kept) and compared by their lowercase
    /// key, whatever the case they are typed in.
    #[test]
    fn emails_are_kept_as_sent_and_keyed_case_insensitively(address in email()) {
        let parsed = Email::parse(&address);
        prop_assert!(parsed.is_ok(), "{:?} refused: {:?}", address, parsed);
        let parsed = parsed.unwrap();
        prop_assert_eq!(parsed.as_str(), address.as_str());
        prop_assert_eq!(parsed.key(), address.to_lowercase());
        for typed in [address.to_uppercase(), address.to_lowercase()] {
            prop_assert_eq!(Email::parse(&typed).map(|e| e.key()), Ok(parsed.key()));
        }
    }

    /// A well-formed address with a space or control character anywhere, without a dot in its
    /// domain, or longer than 254 characters is refused.
    #[test]
    fn malformed_emails_are_refused(
        address in email(),
        bad in prop_oneof![space_char(), control_char(), Just(' ')],
        at in 0.0..1.0f64,
        host in "[a-z0-9]{1,20}",
        long_host in vec("[a-z]{20}", 12..16),
    ) {
        let spaced = insert_at(&address, at, bad);
        prop_assert!(Email::parse(&spaced).is_err(), "{:?} accepted", spaced);
        let (local, _) = address.rsplit_once('@').unwrap();
        let dotless = format!("{local}@{host}");
        prop_assert!(Email::parse(&dotless).is_err(), "{:?} accepted", dotless);
        let long = format!("{local}@{}.com", long_host.join("."));
        prop_assert!(long.chars().count() > 254);
        prop_assert!(Email::parse(&long).is_err(), "{} characters accepted", long.len());
    }

    /// Whatever is sent: an accepted address is kept as sent, at most 254 characters, without
    /// spaces or control characters, with a dotted domain after its last `@`.
    #[test]
    fn emails_accept_only_what_their_rule_allows(raw in prop_oneof![any_text(), email()]) {
        if let Ok(email) = Email::parse(&raw) {
            prop_assert_eq!(email.as_str(), raw.as_str());
            prop_assert!(raw.chars().count() <= Email::MAX_LEN);
            prop_assert!(!raw.chars().any(|c| c.is_whitespace() || c.is_control()));
            let (local, domain) = raw.rsplit_once('@').unwrap();
            prop_assert!(!local.is_empty());
            prop_assert!(domain.contains('.') && !domain.starts_with('.') && !domain.ends_with('.'));
        }
    }

    /// A password is any 8 to 128 characters (counted as characters), control characters and
    /// all, kept exactly.
    #[test]
    fn passwords_are_any_8_to_128_characters(
        chars in prop_oneof![0..12usize, 124..132usize].prop_flat_map(|n| vec(any::<char>(), n)),
    ) {
        let raw: String = chars.iter().collect();
        match Password::parse(&raw) {
            Ok(password) => {
                prop_assert!((8..=128).contains(&chars.len()));
                prop_assert_eq!(password.expose(), raw.as_str());
            }
            Err(_) => prop_assert!(!(8..=128).contains(&chars.len())),
        }
    }

    /// Any integer JSON can carry: a reminder hour is 0..=23, read back as itself.
    #[test]
    fn reminder_hours_are_0_to_23(n in prop_oneof![any::<i64>(), -3i64..30]) {
        match ReminderHour::parse(n) {
            Ok(hour) => prop_assert_eq!(i64::from(hour.get()), n),
            Err(_) => prop_assert!(!(0..=23).contains(&n)),
        }
    }

    /// A time zone is accepted exactly when it is one of the names listed (the OpenAPI
    /// document's enum), spelt as listed, and kept as sent.
    #[test]
    fn time_zones_are_exactly_the_listed_names(
        name in prop::sample::select(TimeZone::names().collect::<Vec<_>>()),
        edit in 0..5u8,
        extra in "[a-zA-Z/_ ]{1,3}",
        raw in any_text(),
    ) {
        let names: HashSet<&str> = TimeZone::names().collect();
        let edited = match edit {
            0 => name.to_owned(),
            1 => name.to_lowercase(),
            2 => name.to_uppercase(),
            3 => format!("{name}{extra}"),
            _ => name.chars().skip(1).collect(),
        };
        for candidate in [edited, raw] {
            match TimeZone::parse(&candidate) {
                Ok(tz) => {
                    prop_assert!(names.contains(candidate.as_str()), "{:?} accepted", candidate);
                    prop_assert_eq!(tz.as_str(), candidate.as_str());
                }
                Err(_) => prop_assert!(!names.contains(candidate.as_str()), "{:?} refused", candidate),
            }
        }
    }

    /// Every id we could have issued parses back from its decimal form; whatever else the path
    /// carries, a parsed id is one we could have issued, written in digits only.
    #[test]
    fn path_ids_are_exactly_the_ids_we_could_have_issued(
        id in prop_oneof![1..=MAX_ID, Just(1), Just(MAX_ID)],
        other in prop_oneof![any::<i64>(), Just(0), Just(MAX_ID + 1)],
        raw in prop_oneof![any_text(), "[0-9+-]{0,20}"],
    ) {
        prop_assert_eq!(parse_path_id(&id.to_string()), Some(id));
        let parsed_other = parse_path_id(&other.to_string());
        prop_assert_eq!(parsed_other.is_some(), (1..=MAX_ID).contains(&other));
        if let Some(id) = parse_path_id(&raw) {
            prop_assert!((1..=MAX_ID).contains(&id));
            prop_assert!(raw.bytes().all(|b| b.is_ascii_digit()), "{:?}", raw);
            // Leading zeros are the only other spelling.
            prop_assert_eq!(raw.trim_start_matches('0'), id.to_string());
        }
    }

    /// `?limit=` is 1..=100 (20 when absent): any integer written out is accepted exactly in
    /// that range, and nothing else is read as a limit outside it.
    #[test]
    fn limits_are_1_to_100(n in prop_oneof![any::<i64>(), -5i64..110], raw in any_text()) {
        prop_assert_eq!(parse_limit(None), Ok(20));
        match parse_limit(Some(&n.to_string())) {
            Ok(limit) => prop_assert_eq!(i64::from(limit), n),
            Err(_) => prop_assert!(!(1..=100).contains(&n)),
        }
        if let Ok(limit) = parse_limit(Some(&raw)) {
            prop_assert!((1..=100).contains(&limit));
        }
    }

    /// A role reads back from its stored form, and no other string is a role.
    #[test]
    fn roles_are_exactly_their_stored_forms(raw in prop_oneof![any_text(), "[a-zA-Z]{4,6}"]) {
        for role in [Role::Member, Role::Admin] {
            prop_assert_eq!(Role::parse(role.as_str()), Some(role));
        }
        if let Some(role) = Role::parse(&raw) {
            prop_assert_eq!(role.as_str(), raw.as_str());
        }
    }
}
