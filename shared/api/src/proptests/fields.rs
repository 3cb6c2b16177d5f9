//! JSON body fields: integers are read as JSON Schema reads them, string lists by their
//! documented limits, and one pass over a body lists every invalid field exactly once, in
//! order, whatever the body holds.

use proptest::collection::vec;
use proptest::prelude::*;
use serde_json::{Map, Value, json};

use crate::fields::Fields;
use rota_domain::input::{DisplayName, ReminderHour};

/// What `Fields` makes of `value` as an integer (the parse accepting any).
fn read_int(value: Value) -> (Option<i64>, Vec<String>) {
    let object = Map::from_iter([("n".to_owned(), value)]);
    let mut fields = Fields::new(&object);
    let read = fields.optional_int("n", Ok);
    let errors = fields.finish().err().unwrap_or_default();
    (read, errors.into_iter().map(|e| e.message).collect())
}

/// 2^53: up to it, a JSON number with no fractional part names one integer.
const EXACT: i64 = 1 << 53;

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    /// Any integer is read as itself, however it is written: `5`, `5.0`, `5e0`, `0.5e1`. Up to
    /// 2^40 for the spellings with a decimal point: serde_json parses floats to the nearest
    /// value only while digits-without-the-point fit 2^53 (its default, best-effort float
    /// parsing; `float_roundtrip` is not enabled), and every bound a field checks is far below.
    #[test]
    fn integers_are_read_in_every_spelling(
        n in prop_oneof![-(1i64 << 40)..=(1 << 40), -100i64..100],
        big in any::<i64>(),
    ) {
        prop_assert_eq!(read_int(json!(big)), (Some(big), vec![]));
        for text in [n.to_string(), format!("{n}.0"), format!("{n}.000"), format!("{n}e0"), format!("{n}E+0")] {
            let value: Value = serde_json::from_str(&text).unwrap();
            prop_assert_eq!(read_int(value), (Some(n), vec![]), "{}", text);
        }
        if n % 10 == 0 {
            let value: Value = serde_json::from_str(&format!("{}.0e1", n / 10)).unwrap();
            prop_assert_eq!(read_int(value), (Some(n), vec![]));
        }
    }

    /// A number with a fractional part, or too large to name one integer, and anything that is
    /// not a number, is refused with one error (null with its own).
    #[test]
    fn what_is_not_an_integer_is_refused(
        fraction in any::<f64>().prop_filter("finite, fractional", |f| f.is_finite() && f.fract() != 0.0),
        huge in prop_oneof![(EXACT as f64 * 2.0)..1e300, -1e300..-(EXACT as f64 * 2.0)],
        text in any::<String>(),
        flag in any::<bool>(),
    ) {
        let not_an_integer = || vec!["must be an integer".to_owned()];
        for value in [json!(fraction), json!(huge), json!(text), json!(flag), json!([1]), json!({"n": 1})] {
            prop_assert_eq!(read_int(value.clone()), (None, not_an_integer()), "{}", value);
        }
        prop_assert_eq!(read_int(Value::Null), (None, vec!["must not be null".to_owned()]));
    }

    /// A string list is accepted exactly when it is an array of strings of at most 100
    /// characters (not bytes), at most `max` of them; then it is read as sent.
    #[test]
    fn string_lists_are_short_strings_up_to_their_count(
        items in vec(
            prop_oneof![
                8 => prop_oneof![0..5usize, 98..103usize]
                    .prop_flat_map(|n| vec(prop_oneof![Just('a'), Just('ş'), Just('👋')], n))
                    .prop_map(|c| json!(c.into_iter().collect::<String>())),
                1 => prop_oneof![Just(json!(1)), Just(Value::Null), Just(json!(["a"]))],
            ],
            0..8,
        ),
        max in 0..8usize,
        whole in prop_oneof![8 => Just(None), 1 => Just(Some(json!("a"))), 1 => Just(Some(json!({})))],
    ) {
        let value = whole.unwrap_or_else(|| Value::Array(items.clone()));
        let object = Map::from_iter([("known_skills".to_owned(), value.clone())]);
        let mut fields = Fields::new(&object);
        let read = fields.optional_string_list("known_skills", max);
        let ok = fields.finish().is_ok();
        let short_strings: Option<Vec<String>> = value.as_array().and_then(|items| {
            items
                .iter()
                .map(|v| v.as_str().filter(|s| s.chars().count() <= 100).map(str::to_owned))
                .collect()
        });
        let expected = short_strings.filter(|list| list.len() <= max);
        prop_assert_eq!(ok, expected.is_some());
        prop_assert_eq!(read, expected);
    }

    /// Whatever a body holds, reading its fields lists every invalid one once, in the order
    /// read, and no valid or absent optional one; a value is returned exactly for the fields
    /// not listed that are present.
    #[test]
    fn every_invalid_field_is_listed_once_in_order(
        fields in vec((0..6u8, value()), 1..8),
    ) {
        let object: Map<String, Value> = fields
            .iter()
            .enumerate()
            .filter_map(|(i, (_, v))| v.clone().map(|v| (format!("f{i}"), v)))
            .collect();
        let mut reader = Fields::new(&object);
        let mut expected = Vec::new();
        for (i, (read, value)) in fields.iter().enumerate() {
            let name = format!("f{i}");
            let required = read % 2 == 0;
            let got = match read / 2 {
                0 if required => reader.required(&name, DisplayName::parse).is_some(),
                0 => reader.optional(&name, DisplayName::parse).is_some(),
                1 if required => reader.required_int(&name, ReminderHour::parse).is_some(),
                1 => reader.optional_int(&name, ReminderHour::parse).is_some(),
                _ if required => reader.required_bool(&name).is_some(),
                _ => reader.optional_bool(&name).is_some(),
            };
            let valid = match (read / 2, value) {
                (_, None) => !required,
                (_, Some(Value::Null)) => false,
                (0, Some(Value::String(s))) => DisplayName::parse(s).is_ok(),
                // An hour is an integer of 0..=23, however written (`7`, `7.0`).
                (1, Some(Value::Number(n))) => n
                    .as_f64()
                    .is_some_and(|f| f.fract() == 0.0 && (0.0..24.0).contains(&f)),
                (2, Some(Value::Bool(_))) => true,
                _ => false,
            };
            if !valid {
                expected.push(name);
            }
            prop_assert_eq!(got, valid && value.is_some(), "f{}", i);
        }
        let listed: Vec<String> = reader
            .finish()
            .err()
            .unwrap_or_default()
            .into_iter()
            .map(|e| e.field)
            .collect();
        prop_assert_eq!(listed, expected);
    }
}

/// A member's value, or `None` for an absent member.
fn value() -> impl Strategy<Value = Option<Value>> {
    proptest::option::weighted(
        0.8,
        prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::Bool),
            (-3i64..30).prop_map(|n| json!(n)),
            prop_oneof![Just(7.0), Just(5.5), Just(-0.0), Just(23.0), Just(24.0)]
                .prop_map(|f| json!(f)),
            prop_oneof![Just("Ada"), Just("  "), Just("a\u{7}b"), Just("  Zeynep ")]
                .prop_map(|s| json!(s)),
            Just(json!(["x"])),
        ],
    )
}
