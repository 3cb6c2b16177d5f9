//! The plan generator. See the crate docs for the ordering, allocation and milestone rules.

use std::collections::BTreeSet;
use std::fmt;
use std::ops::RangeInclusive;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use rota_domain::locale::Locale;

use crate::catalog::{CATALOG, Goal, Resource, Stage};
use crate::hours::Hours;

/// Allowed `hours_per_week`, as in the API contract.
pub const HOURS_PER_WEEK: RangeInclusive<u32> = 1..=80;

/// The learner's starting level; it scales the catalog's beginner estimates.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Level {
    Beginner,
    Intermediate,
    Advanced,
}

impl Level {
    pub const ALL: [Level; 3] = [Level::Beginner, Level::Intermediate, Level::Advanced];

    pub const fn as_str(self) -> &'static str {
        match self {
            Level::Beginner => "beginner",
            Level::Intermediate => "intermediate",
            Level::Advanced => "advanced",
        }
    }

    /// The level as a title shows it in `locale`.
    pub const fn name_in(self, locale: Locale) -> &'static str {
        match (locale, self) {
            (Locale::En, _) => self.as_str(),
            (Locale::Tr, Level::Beginner) => "başlangıç",
            (Locale::Tr, Level::Intermediate) => "orta",
            (Locale::Tr, Level::Advanced) => "ileri",
        }
    }

    /// Time factor in quarters: ×1.0, ×0.75, ×0.5 (kept as integers for exact arithmetic).
    const fn quarters(self) -> u64 {
        match self {
            Level::Beginner => 4,
            Level::Intermediate => 3,
            Level::Advanced => 2,
        }
    }

    /// Scales a beginner estimate to this level: multiplied by the factor, rounded to the
    /// nearest half hour (halves round up), and never below half an hour.
    pub fn scale(self, beginner: Hours) -> Hours {
        let halves = u64::from(beginner.half_hours());
        // halves * q / 4, rounded half up, in integers.
        let scaled = (halves * self.quarters() + 2) / 4;
        let scaled = u32::try_from(scaled).unwrap_or(u32::MAX).max(1);
        Hours::from_half_hours(scaled)
    }
}

impl fmt::Display for Level {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Level {
    type Err = UnknownLevel;
    fn from_str(s: &str) -> Result<Level, UnknownLevel> {
        Level::ALL
            .into_iter()
            .find(|l| l.as_str() == s)
            .ok_or(UnknownLevel)
    }
}

/// `Level::from_str` got something other than beginner, intermediate or advanced.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct UnknownLevel;

impl fmt::Display for UnknownLevel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("level must be one of: beginner, intermediate, advanced")
    }
}

impl std::error::Error for UnknownLevel {}

/// A generated study plan (the API's Roadmap minus the stored fields: id, progress, dates).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Plan {
    /// E.g. "Backend developer roadmap (beginner, 10 h/week)".
    pub title: String,
    pub goal: String,
    pub level: Level,
    pub hours_per_week: u32,
    /// Exactly the sum of the steps' `est_hours`.
    pub total_hours: Hours,
    /// The last week any step uses (1-based), so weeks `1..=total_weeks`.
    pub total_weeks: u32,
    pub milestones: Vec<Milestone>,
}

/// A consecutive run of steps of the same stage.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Milestone {
    /// 0-based position in the plan.
    pub index: u32,
    pub title: String,
    /// `week_start` of its first step.
    pub week_start: u32,
    /// `week_end` of its last step.
    pub week_end: u32,
    /// Never empty.
    pub steps: Vec<Step>,
}

/// One skill to learn.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Step {
    /// The skill slug (stable across plans; the same slug in two goals is the same skill).
    pub skill: String,
    pub title: String,
    pub description: String,
    /// The catalog estimate scaled by the level.
    pub est_hours: Hours,
    pub resources: Vec<Resource>,
    /// First week (1-based) in which this step gets time.
    pub week_start: u32,
    /// Last week in which this step gets time.
    pub week_end: u32,
}

impl Plan {
    /// This plan with its title, milestone titles and step titles and descriptions in
    /// `locale`, looked up in the catalog by goal, stage and skill slug; a text whose goal or
    /// skill has left the catalog stays as stored.
    pub fn localized(&self, locale: Locale) -> Plan {
        let mut plan = self.clone();
        let Some(goal) = CATALOG.find(&plan.goal).map(|c| &c.goal) else {
            return plan;
        };
        plan.title = title(goal, plan.level, plan.hours_per_week, locale);
        for milestone in &mut plan.milestones {
            let stage = milestone
                .steps
                .first()
                .and_then(|s| goal.skill(&s.skill))
                .map(|s| s.stage);
            if let Some(stage) = stage {
                milestone.title = goal.milestone_in(stage, locale).to_owned();
            }
            for step in &mut milestone.steps {
                if let Some(skill) = goal.skill(&step.skill) {
                    step.title = skill.title_in(locale).to_owned();
                    step.description = skill.description_in(locale).to_owned();
                }
            }
        }
        plan
    }

    /// All steps in plan order.
    pub fn steps(&self) -> impl Iterator<Item = &Step> {
        self.milestones.iter().flat_map(|m| m.steps.iter())
    }

    /// Planned hours per week (index 0 is week 1), replaying the allocation rule.
    pub fn week_loads(&self) -> Vec<Hours> {
        let mut alloc = Allocator::new(self.hours_per_week);
        let mut loads: Vec<u32> = Vec::new();
        for step in self.steps() {
            for (week, halves) in alloc.place(step.est_hours.half_hours()) {
                let i = usize::try_from(week - 1).unwrap_or(usize::MAX);
                if loads.len() <= i {
                    loads.resize(i + 1, 0);
                }
                loads[i] += halves;
            }
        }
        loads.into_iter().map(Hours::from_half_hours).collect()
    }
}

/// Why a plan could not be generated. Each maps to a 422 on one request field.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GenerateError {
    /// `goal` is not a catalog slug.
    UnknownGoal,
    /// `hours_per_week` is outside 1..=80.
    HoursPerWeekOutOfRange,
    /// `known_skills` covers every skill of the goal: there is nothing to plan. An empty
    /// roadmap would have no next step and no meaningful progress, so it is an error.
    NothingToLearn,
}

impl GenerateError {
    /// The request field the error is about (for the 422 `errors[].field`).
    pub const fn field(self) -> &'static str {
        match self {
            GenerateError::UnknownGoal => "goal",
            GenerateError::HoursPerWeekOutOfRange => "hours_per_week",
            GenerateError::NothingToLearn => "known_skills",
        }
    }
}

impl fmt::Display for GenerateError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Deliberately does not echo user input back.
        f.write_str(match self {
            GenerateError::UnknownGoal => "goal must be a slug from the roadmap catalog",
            GenerateError::HoursPerWeekOutOfRange => "hours_per_week must be between 1 and 80",
            GenerateError::NothingToLearn => "known_skills already covers every skill of this goal",
        })
    }
}

impl std::error::Error for GenerateError {}

/// Packs steps into weeks: a step starts in the first week that still has capacity and fills
/// weeks in order, so weeks are used without gaps and none exceeds the weekly budget.
struct Allocator {
    capacity: u32,
    week: u32,
    used: u32,
}

impl Allocator {
    fn new(hours_per_week: u32) -> Allocator {
        Allocator {
            // At least one half hour so a bad value can never divide by zero or loop.
            capacity: hours_per_week.saturating_mul(2).max(1),
            week: 1,
            used: 0,
        }
    }

    /// Places `halves` half hours; returns (week, half hours in that week) pairs, in order.
    fn place(&mut self, halves: u32) -> Vec<(u32, u32)> {
        let mut parts = Vec::new();
        let mut left = halves;
        while left > 0 {
            if self.used == self.capacity {
                self.week = self.week.saturating_add(1);
                self.used = 0;
            }
            let take = left.min(self.capacity - self.used);
            self.used += take;
            left -= take;
            parts.push((self.week, take));
        }
        parts
    }
}

/// Generates a study plan.
///
/// * `goal`: a catalog slug, else [`GenerateError::UnknownGoal`].
/// * `hours_per_week`: 1..=80, else [`GenerateError::HoursPerWeekOutOfRange`].
/// * `known_skills`: skill slugs the learner already has. They are left out of the plan and
///   count as satisfied prerequisites. Slugs that are not skills of this goal are ignored (a
///   client may send one list of known skills for every goal); duplicates and order do not
///   matter. Knowing every skill is [`GenerateError::NothingToLearn`].
///
/// Deterministic: the same input always gives the same plan.
pub fn generate(
    goal: &str,
    level: Level,
    hours_per_week: u32,
    known_skills: &[String],
) -> Result<Plan, GenerateError> {
    let compiled = CATALOG.find(goal).ok_or(GenerateError::UnknownGoal)?;
    if !HOURS_PER_WEEK.contains(&hours_per_week) {
        return Err(GenerateError::HoursPerWeekOutOfRange);
    }
    let known: BTreeSet<&str> = known_skills.iter().map(String::as_str).collect();
    let goal = &compiled.goal;

    let mut alloc = Allocator::new(hours_per_week);
    let mut total_hours = Hours::ZERO;
    let mut milestones: Vec<Milestone> = Vec::new();
    let mut current_stage: Option<Stage> = None;
    for &i in &compiled.order {
        let skill = &goal.skills[i];
        if known.contains(skill.slug.as_str()) {
            continue;
        }
        let est_hours = level.scale(skill.est_hours);
        total_hours += est_hours;
        let parts = alloc.place(est_hours.half_hours());
        // `place` returns at least one part because est_hours is never zero.
        let week_start = parts.first().map_or(alloc.week, |p| p.0);
        let week_end = parts.last().map_or(alloc.week, |p| p.0);
        let step = Step {
            skill: skill.slug.clone(),
            title: skill.title.clone(),
            description: skill.description.clone(),
            est_hours,
            resources: skill.resources.clone(),
            week_start,
            week_end,
        };
        match milestones.last_mut() {
            Some(m) if current_stage == Some(skill.stage) => {
                m.week_end = week_end;
                m.steps.push(step);
            }
            _ => {
                current_stage = Some(skill.stage);
                milestones.push(Milestone {
                    index: u32::try_from(milestones.len()).unwrap_or(u32::MAX),
                    title: goal.milestones.get(skill.stage).to_owned(),
                    week_start,
                    week_end,
                    steps: vec![step],
                });
            }
        }
    }
    let total_weeks = match milestones.last() {
        Some(m) => m.week_end,
        None => return Err(GenerateError::NothingToLearn),
    };
    Ok(Plan {
        title: title(goal, level, hours_per_week, Locale::En),
        goal: goal.slug.clone(),
        level,
        hours_per_week,
        total_hours,
        total_weeks,
        milestones,
    })
}

/// "Backend developer roadmap (beginner, 10 h/week)", or in Turkish "Backend geliştirici yol
/// haritası (başlangıç, haftada 10 saat)".
pub(crate) fn title(goal: &Goal, level: Level, hours_per_week: u32, locale: Locale) -> String {
    let name = goal.title_in(locale);
    let level = level.name_in(locale);
    match locale {
        Locale::En => format!("{name} roadmap ({level}, {hours_per_week} h/week)"),
        Locale::Tr => format!("{name} yol haritası ({level}, haftada {hours_per_week} saat)"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scaling_rounds_to_half_hours_and_never_reaches_zero() {
        let h = Hours::from_hours;
        assert_eq!(Level::Beginner.scale(h(15)), h(15));
        assert_eq!(Level::Intermediate.scale(h(15)), Hours::from_half_hours(23)); // 11.25 -> 11.5
        assert_eq!(Level::Advanced.scale(h(15)), Hours::from_half_hours(15)); // 7.5
        assert_eq!(Level::Intermediate.scale(h(1)), h(1)); // 0.75 -> 1
        assert_eq!(
            Level::Advanced.scale(Hours::from_half_hours(1)),
            Hours::from_half_hours(1)
        );
        assert_eq!(Level::Intermediate.scale(h(2)), Hours::from_half_hours(3)); // 1.5
    }

    #[test]
    fn allocator_fills_weeks_in_order() {
        let mut a = Allocator::new(10);
        assert_eq!(a.place(15), vec![(1, 15)]); // 7.5 h
        assert_eq!(a.place(30), vec![(1, 5), (2, 20), (3, 5)]); // 15 h
        assert_eq!(a.place(15), vec![(3, 15)]);
        assert_eq!(a.place(2), vec![(4, 2)]); // week 3 was exactly full
    }

    #[test]
    fn level_parses_and_serialises_lowercase() {
        assert_eq!("advanced".parse::<Level>(), Ok(Level::Advanced));
        assert!("Advanced".parse::<Level>().is_err());
        assert_eq!(
            serde_json::to_string(&Level::Intermediate).unwrap(),
            "\"intermediate\""
        );
    }
}
