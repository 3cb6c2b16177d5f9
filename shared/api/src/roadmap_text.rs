//! A stored roadmap's texts in a language: roadmaps are stored in English (their summary
//! keeps the title and the step titles) and read in the reader's `locale` through the catalog.
//! Shared by the roadmap and dashboard handlers and the reminder worker.

use rota_domain::locale::Locale;
use rota_store::roadmaps::Roadmap;

/// A stored roadmap's title in `locale` (as stored when its goal has left the catalog).
pub fn summary_title(r: &Roadmap, locale: Locale) -> String {
    r.level
        .parse()
        .ok()
        .and_then(|level| rota_roadmap::plan_title(&r.goal, level, r.hours_per_week, locale))
        .unwrap_or_else(|| r.title.clone())
}

/// The title in `locale` of a step of `r` stored as `title` (the roadmap summary keeps step
/// titles, in English).
pub fn step_title<'a>(r: &Roadmap, title: &'a str, locale: Locale) -> &'a str {
    rota_roadmap::step_title_in(&r.goal, title, locale).unwrap_or(title)
}
