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
}
