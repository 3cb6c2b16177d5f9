//! The learner's language: Turkish or English, everything a learner reads comes in both.

use std::fmt;

/// A language Rota writes in. `En` is the default (an absent or unknown stored value).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Locale {
    #[default]
    En,
    Tr,
}

impl Locale {
    pub const ALL: [Locale; 2] = [Locale::En, Locale::Tr];

    /// `"en"` or `"tr"`: the API's and the stored form.
    pub fn as_str(self) -> &'static str {
        match self {
            Locale::En => "en",
            Locale::Tr => "tr",
        }
    }

    /// The API's form exactly (`"en"`, `"tr"`); anything else is `None`.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "en" => Some(Locale::En),
            "tr" => Some(Locale::Tr),
            _ => None,
        }
    }

    /// A stored value: unknown or absent is English (items written before locales existed).
    pub fn from_stored(s: Option<&str>) -> Self {
        s.and_then(Self::parse).unwrap_or_default()
    }

    /// The language an `Accept-Language` header (RFC 9110 §12.5.4) prefers among ours: the
    /// highest-weighted range whose primary subtag is `tr` or `en` (`tr-TR` is `tr`; ties
    /// keep header order), English when none is (absent, `*`, `de`) or it refuses one with
    /// `q=0`.
    pub fn from_accept_language(header: Option<&str>) -> Self {
        let Some(header) = header else {
            return Locale::En;
        };
        // `q=NaN` reads as NaN, which the crate's sort cannot order (the standard sort may
        // panic on a comparison that is not a total order: a header of 21+ ranges did, found
        // by the property tests): such ranges are dropped before it sorts.
        let ranges: Vec<&str> = header
            .split(',')
            .filter(|range| {
                !accept_language::parse_with_quality(range)
                    .iter()
                    .any(|(_, q)| q.is_nan())
            })
            .collect();
        // The crate sorts by q (stably) but keeps q=0, which means "not acceptable".
        accept_language::parse_with_quality(&ranges.join(","))
            .into_iter()
            .filter(|(_, q)| *q > 0.0)
            .find_map(|(tag, _)| {
                let primary = tag.split('-').next().unwrap_or_default();
                Self::ALL
                    .into_iter()
                    .find(|l| primary.eq_ignore_ascii_case(l.as_str()))
            })
            .unwrap_or_default()
    }
}

impl fmt::Display for Locale {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_api_form_round_trips_and_anything_else_is_english_when_stored() {
        for locale in Locale::ALL {
            assert_eq!(Locale::parse(locale.as_str()), Some(locale));
        }
        assert_eq!(Locale::parse("TR"), None);
        assert_eq!(Locale::from_stored(Some("de")), Locale::En);
        assert_eq!(Locale::from_stored(None), Locale::En);
        assert_eq!(Locale::from_stored(Some("tr")), Locale::Tr);
    }

    #[test]
    fn accept_language_picks_the_highest_weighted_of_ours() {
        let of = |h: &str| Locale::from_accept_language(Some(h));
        assert_eq!(of("tr-TR,tr;q=0.9,en;q=0.8"), Locale::Tr);
        assert_eq!(of("en-US"), Locale::En);
        assert_eq!(of("de"), Locale::En);
        assert_eq!(of("*"), Locale::En);
        assert_eq!(of(""), Locale::En);
        assert_eq!(Locale::from_accept_language(None), Locale::En);
        // q-values, not order, decide; a q=0 range is refused.
        assert_eq!(of("en;q=0.5, tr;q=0.8"), Locale::Tr);
        assert_eq!(of("de, TR-tr;q=0.7, en;q=0.3"), Locale::Tr);
        assert_eq!(of("tr;q=0, en;q=0.1"), Locale::En);
        assert_eq!(of("fr, en-GB;q=0.9, tr;q=0.9"), Locale::En);
        assert_eq!(of("garbage;;q=x,,"), Locale::En);
    }
}
