//! The input parsers on any text, and a JSON body's fields on any bytes: no panic, and what is
//! accepted keeps its documented form (the property tests in rota-domain and rota-api say the
//! same over generated inputs; this explores by coverage).
#![no_main]

use libfuzzer_sys::fuzz_target;
use rota_domain::input::*;
use rota_domain::locale::Locale;

fuzz_target!(|data: &[u8]| {
    if let Ok(raw) = std::str::from_utf8(data) {
        text(raw);
    }
    // A body as the extractor reads it: a JSON object, then every kind of field.
    #[cfg(feature = "api")]
    if let Ok(serde_json::Value::Object(object)) = serde_json::from_slice(data) {
        let mut fields = rota_api::fields::Fields::new(&object);
        for name in object.keys() {
            fields.optional(name, DisplayName::parse);
            fields.optional_int(name, ReminderHour::parse);
            fields.optional_bool(name);
            fields.optional_string_list(name, 200);
        }
        let _ = fields.finish();
    }
});

fn text(raw: &str) {
    if let Ok(email) = Email::parse(raw) {
        assert_eq!(email.as_str(), raw);
        assert!(raw.chars().count() <= Email::MAX_LEN);
        assert!(!raw.chars().any(|c| c.is_whitespace() || c.is_control()));
        let _ = email.key();
    }
    if let Ok(password) = Password::parse(raw) {
        assert_eq!(password.expose(), raw);
    }
    if let Ok(name) = DisplayName::parse(raw) {
        assert_eq!(name.as_str(), raw.trim());
        assert!((1..=50).contains(&name.as_str().chars().count()));
    }
    let texts: [(Result<String, &str>, usize); 3] = [
        (PostTitle::parse(raw).map(|t| t.as_str().to_owned()), 200),
        (
            PostContent::parse(raw).map(|t| t.as_str().to_owned()),
            10_000,
        ),
        (
            CommentContent::parse(raw).map(|t| t.as_str().to_owned()),
            2000,
        ),
    ];
    for (parsed, max) in texts {
        if let Ok(stored) = parsed {
            assert_eq!(stored, raw);
            assert!(raw.chars().count() <= max);
            assert!(raw.chars().any(|c| !c.is_whitespace()));
        }
    }
    if let Ok(tz) = TimeZone::parse(raw) {
        assert_eq!(tz.as_str(), raw);
    }
    if let Some(id) = parse_path_id(raw) {
        assert!((1..=MAX_ID).contains(&id));
    }
    if let Ok(limit) = parse_limit(Some(raw)) {
        assert!((1..=100).contains(&limit));
    }
    if let Some(role) = Role::parse(raw) {
        assert_eq!(role.as_str(), raw);
    }
    let _ = Locale::from_accept_language(Some(raw));
}
