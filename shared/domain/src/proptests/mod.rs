//! Property tests of the domain's parsers and arithmetic (issue 23): each states an invariant
//! (a round trip, "accepts exactly what its documented rule allows", "never panics") over
//! generated inputs, beside the example tests of each module. Named `proptests` so that
//! `cargo nextest run -p rota-domain proptest` runs them all.

mod cursor;
mod input;
mod locale;
mod refresh_token;
mod reminder_hours;

use proptest::prelude::*;

/// Characters that are neither whitespace nor control characters, from several scripts and
/// widths (a combining accent and an emoji modifier included): text made of them is visible.
pub(super) fn visible_char() -> impl Strategy<Value = char> + Clone {
    prop_oneof![
        prop::char::range('a', 'z'),
        prop::char::range('A', 'Z'),
        prop::char::range('0', '9'),
        prop::sample::select(vec![
            'ş',
            'Ç',
            'é',
            'ß',
            'م',
            'ر',
            '中',
            '👋',
            '\u{1F3FD}',
            '\u{301}',
            '\'',
            ';',
            '<',
            '&',
            '"',
            '\\',
            '.',
            '@',
            '-',
        ]),
    ]
}

/// Unicode whitespace that is not a control character (what `str::trim` removes besides
/// tabs and line breaks).
pub(super) fn space_char() -> impl Strategy<Value = char> + Clone {
    prop::sample::select(vec![' ', '\u{a0}', '\u{2003}', '\u{3000}', '\u{202f}'])
}

/// Control characters, line breaks and tabs among them (some are also whitespace: `\u{85}`).
pub(super) fn control_char() -> impl Strategy<Value = char> + Clone {
    prop_oneof![
        prop::char::range('\u{0}', '\u{1f}'),
        prop::char::range('\u{7f}', '\u{9f}'),
    ]
}

/// `s` with `c` inserted at the char boundary nearest to `at` (a fraction of its length).
pub(super) fn insert_at(s: &str, at: f64, c: char) -> String {
    let n = s.chars().count();
    let i = ((n as f64) * at) as usize;
    let mut out: String = s.chars().take(i).collect();
    out.push(c);
    out.extend(s.chars().skip(i));
    out
}
