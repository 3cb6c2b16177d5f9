//! `Accept-Language` picks, among Rota's languages, the highest-weighted range (q > 0) whose
//! primary subtag is one of them, the first of equal weights; English otherwise. Any header
//! at all is read without panicking.

use proptest::collection::vec;
use proptest::prelude::*;

use crate::locale::Locale;

/// A language range as a client writes it, and its weight in thousandths (`None`: no `q`,
/// which weighs 1).
fn range() -> impl Strategy<Value = (&'static str, Option<u16>)> {
    (
        prop::sample::select(vec![
            "tr", "TR", "tr-TR", "en", "en-GB", "EN-us", "de", "fr-CA", "*",
        ]),
        proptest::option::of(0..=1000u16),
    )
}

fn header((tag, q): &(&str, Option<u16>)) -> String {
    match q {
        None => tag.to_string(),
        Some(1000) => format!("{tag};q=1"),
        Some(q) => format!("{tag};q=0.{q:03}"),
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn accept_language_prefers_the_heaviest_of_ours(ranges in vec(range(), 0..6)) {
        let written = ranges.iter().map(header).collect::<Vec<_>>().join(", ");
        // The first range of the greatest weight among those naming one of ours.
        let mut best: Option<(u16, Locale)> = None;
        for (tag, q) in &ranges {
            let q = q.unwrap_or(1000);
            let primary = tag.split('-').next().unwrap().to_ascii_lowercase();
            let ours = Locale::ALL.into_iter().find(|l| l.as_str() == primary);
            if let Some(locale) = ours
                && q > 0
                && best.is_none_or(|(b, _)| q > b)
            {
                best = Some((q, locale));
            }
        }
        let expected = best.map_or(Locale::En, |(_, l)| l);
        prop_assert_eq!(Locale::from_accept_language(Some(&written)), expected, "{}", written);
    }

    #[test]
    fn any_accept_language_header_is_read(raw in prop_oneof![any::<String>(), "[a-zA-Z;=,.0-9 *-]{0,40}"]) {
        let locale = Locale::from_accept_language(Some(&raw));
        prop_assert!(Locale::ALL.contains(&locale));
    }

    /// Weights of any spelling, valid or not (`NaN`, `inf`, out of range), in headers long
    /// enough for the sort to merge runs, are read without panicking.
    #[test]
    fn any_weights_are_read(
        ranges in vec(
            (
                prop::sample::select(vec!["tr", "en", "de", "*"]),
                prop::sample::select(vec!["1", "0.5", "0", "NaN", "nan", "inf", "-inf", "-1", "2", "x", ""]),
            ),
            0..60,
        ),
    ) {
        let written = ranges
            .iter()
            .map(|(tag, q)| format!("{tag};q={q}"))
            .collect::<Vec<_>>()
            .join(",");
        let locale = Locale::from_accept_language(Some(&written));
        prop_assert!(Locale::ALL.contains(&locale));
    }
}
