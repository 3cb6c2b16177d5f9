//! Rota's learning-roadmap catalog and study-plan generator. Pure: no I/O, no clock, no
//! randomness.
//!
//! # Catalog
//! One JSON file per goal in `catalog/`, embedded with `include_str!` and parsed and checked
//! once. A file is a [`Goal`]: `slug`, `title`, `description`, `milestones` (a title per
//! stage), `capstones` (final skill slugs) and `skills`, each a [`Skill`]: `slug`, `title`,
//! `description`, `stage` (foundations, core, advanced, capstone), `est_hours` (beginner, a
//! multiple of 0.5), `prerequisites` (slugs in the same goal) and `resources` (`{title, url}`).
//! Unknown fields are rejected. Every skill must lead to one of the goal's `capstones` (it is
//! an ancestor-or-self of a capstone); stages never go backwards along a prerequisite. New
//! goal files must also be added to `SOURCES` in `catalog.rs`; `tests/catalog.rs` checks the
//! content rules (≥ 20 skills, ≥ 2 https resources per skill, …).
//!
//! # Languages
//! The catalog is written in English; `catalog/tr/<goal>.json` holds each goal's Turkish
//! texts (title, description, milestone titles, and every skill's title and description by
//! slug), checked complete when the catalog loads. A plan is generated and stored in English
//! and shown in a language by [`Plan::localized`], which looks its texts up by skill slug and
//! stage: a learner who switches language sees their existing roadmaps in the new one.
//!
//! # Plan order
//! Skills are sorted by (stage, depth, catalog order), where depth is the length of the
//! longest prerequisite chain below the skill in the full goal graph. Because a prerequisite
//! is never in a later stage and always has a smaller depth, every prerequisite comes before
//! its dependants. Known skills are then removed; they count as satisfied.
//!
//! # Hours
//! The catalog holds beginner estimates. A plan scales them by level (beginner ×1,
//! intermediate ×0.75, advanced ×0.5), rounds to the nearest half hour (halves up) and never
//! goes below half an hour. All arithmetic is on integer half hours, so totals are exact.
//!
//! # Week allocation
//! Weeks are 1-based, each with a budget of `hours_per_week`. Steps are placed in plan order:
//! a step starts in the first week that still has capacity (the week where the previous step
//! ended, or the next one if that week is full) and its hours fill that week's remaining
//! capacity, then following weeks in order, until used up. So `week_start` is where its first
//! hour goes, `week_end` where its last one goes; a step longer than a week spans consecutive
//! weeks, several short steps can share a week, no week exceeds the budget and no week in
//! `1..=total_weeks` is empty. [`Plan::week_loads`] replays this rule.
//!
//! # Milestones
//! A milestone is a maximal run of consecutive steps with the same stage, titled by the goal's
//! per-stage title. Because the order is by stage first, there is one milestone per stage
//! that still has steps, in stage order. `week_start`/`week_end` are those of its first and
//! last step, so consecutive milestones may share their boundary week.

mod catalog;
mod hours;
mod plan;

pub use catalog::{Goal, GoalSummary, Resource, Skill, Stage, StageTitles, Texts};
pub use hours::Hours;
pub use plan::{
    GenerateError, HOURS_PER_WEEK, Level, Milestone, Plan, Step, UnknownLevel, generate,
};

use catalog::CATALOG;
pub use rota_domain::locale::Locale;

/// The goals for `GET /api/roadmaps/catalog`, in catalog order, in English.
pub fn catalog() -> &'static [GoalSummary] {
    catalog_in(Locale::En)
}

/// The goals in catalog order, in `locale`.
pub fn catalog_in(locale: Locale) -> &'static [GoalSummary] {
    match locale {
        Locale::En => &CATALOG.summaries[0],
        Locale::Tr => &CATALOG.summaries[1],
    }
}

/// A roadmap's title in `locale` (what `generate` titles it in English), or `None` for a goal
/// no longer in the catalog.
pub fn plan_title(goal: &str, level: Level, hours_per_week: u32, locale: Locale) -> Option<String> {
    self::goal(goal).map(|g| plan::title(g, level, hours_per_week, locale))
}

/// The title in `locale` of the skill of `goal` whose English title is `title` (stored roadmap
/// summaries keep step titles only, in English), or `None` when there is none.
pub fn step_title_in(goal: &str, title: &str, locale: Locale) -> Option<&'static str> {
    self::goal(goal)?
        .skills
        .iter()
        .find(|s| s.title == title)
        .map(|s| s.title_in(locale))
}

/// The full definition of a goal, or `None` for an unknown slug.
pub fn goal(slug: &str) -> Option<&'static Goal> {
    CATALOG.find(slug).map(|c| &c.goal)
}

/// The skills of a goal in catalog order, or `None` for an unknown slug.
pub fn goal_skills(slug: &str) -> Option<&'static [Skill]> {
    goal(slug).map(|g| g.skills.as_slice())
}

/// Every goal in catalog order, with its skills.
pub fn goals() -> impl Iterator<Item = &'static Goal> {
    CATALOG.goals.iter().map(|c| &c.goal)
}
