//! The goal catalog: one JSON file per goal under `catalog/`, embedded at compile time and
//! parsed and checked once, on first use.
//!
//! Reachability rule: every goal names its final skill(s) in `capstones`, and every skill of
//! the goal must be an ancestor-or-self of a capstone (walking `prerequisites` backwards from
//! the capstones reaches every skill). That way nothing in a goal is off-topic busywork.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::sync::LazyLock;

use rota_domain::locale::Locale;
use serde::{Deserialize, Serialize};

use crate::hours::Hours;

/// A coarse phase of a goal. Declaration order is learning order: a skill's stage is never
/// earlier than the stage of any of its prerequisites (checked when the catalog loads).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Stage {
    Foundations,
    Core,
    Advanced,
    Capstone,
}

impl Stage {
    pub const ALL: [Stage; 4] = [
        Stage::Foundations,
        Stage::Core,
        Stage::Advanced,
        Stage::Capstone,
    ];

    pub const fn as_str(self) -> &'static str {
        match self {
            Stage::Foundations => "foundations",
            Stage::Core => "core",
            Stage::Advanced => "advanced",
            Stage::Capstone => "capstone",
        }
    }
}

impl fmt::Display for Stage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Milestone titles of a goal, one per stage (they read better per goal than generic ones).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StageTitles {
    pub foundations: String,
    pub core: String,
    pub advanced: String,
    pub capstone: String,
}

impl StageTitles {
    pub fn get(&self, stage: Stage) -> &str {
        match stage {
            Stage::Foundations => &self.foundations,
            Stage::Core => &self.core,
            Stage::Advanced => &self.advanced,
            Stage::Capstone => &self.capstone,
        }
    }
}

/// A title and a description in one language other than the catalog's English.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Texts {
    pub title: String,
    pub description: String,
}

/// A goal's Turkish texts, `catalog/tr/<goal>.json`: the goal's, its milestones' and, by
/// slug, every skill's. Resource titles are not translated: they name external works.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Translation {
    title: String,
    description: String,
    milestones: StageTitles,
    skills: BTreeMap<String, Texts>,
}

/// A learning resource.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Resource {
    pub title: String,
    pub url: String,
}

/// One skill of a goal, as written in the catalog.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Skill {
    /// Unique within its goal; the same slug in two goals means the same skill.
    pub slug: String,
    pub title: String,
    pub description: String,
    pub stage: Stage,
    /// Time for a beginner to become productive with it.
    pub est_hours: Hours,
    /// Slugs of skills of the same goal that should come first.
    pub prerequisites: Vec<String>,
    pub resources: Vec<Resource>,
    /// Turkish title and description (from `catalog/tr/`, checked complete on load).
    #[serde(skip)]
    pub tr: Texts,
}

/// `title_in` and `description_in` of the catalog entries with Turkish texts in `tr`: inherent
/// methods (callers need no trait in scope), the same for skills and goals.
macro_rules! translated {
    ($($entry:ty),+) => {$(
        impl $entry {
            pub fn title_in(&self, locale: Locale) -> &str {
                match locale {
                    Locale::En => &self.title,
                    Locale::Tr => &self.tr.title,
                }
            }

            pub fn description_in(&self, locale: Locale) -> &str {
                match locale {
                    Locale::En => &self.description,
                    Locale::Tr => &self.tr.description,
                }
            }
        }
    )+};
}
translated!(Skill, Goal);

/// A learning goal with its prerequisite graph.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Goal {
    pub slug: String,
    pub title: String,
    pub description: String,
    /// Milestone titles by stage.
    pub milestones: StageTitles,
    /// The goal's final skill(s); every skill of the goal leads to one of them.
    pub capstones: Vec<String>,
    /// In authoring order, which is also the last tie-break of the plan order.
    pub skills: Vec<Skill>,
    /// Turkish title and description.
    #[serde(skip)]
    pub tr: Texts,
    /// Turkish milestone titles.
    #[serde(skip)]
    pub tr_milestones: StageTitles,
}

impl Goal {
    pub fn milestone_in(&self, stage: Stage, locale: Locale) -> &str {
        match locale {
            Locale::En => self.milestones.get(stage),
            Locale::Tr => self.tr_milestones.get(stage),
        }
    }

    pub fn skill(&self, slug: &str) -> Option<&Skill> {
        self.skills.iter().find(|s| s.slug == slug)
    }
}

/// What `GET /api/roadmaps/catalog` lists per goal.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct GoalSummary {
    pub slug: String,
    pub title: String,
    pub description: String,
}

/// A goal plus what the generator needs, computed once.
pub(crate) struct CompiledGoal {
    pub goal: Goal,
    /// Skill indices in plan order: by stage, then depth, then catalog order. Stages never
    /// decrease along a prerequisite edge and depth strictly increases, so this order is
    /// topological.
    pub order: Vec<usize>,
}

pub(crate) struct Catalog {
    pub goals: Vec<CompiledGoal>,
    /// Per language, in `Locale::ALL` order.
    pub summaries: [Vec<GoalSummary>; 2],
}

// Catalog order of goals (also the order `catalog()` lists them in), each with its Turkish
// texts.
const SOURCES: [Source; 8] = [
    (
        "backend.json",
        include_str!("../catalog/backend.json"),
        include_str!("../catalog/tr/backend.json"),
    ),
    (
        "frontend.json",
        include_str!("../catalog/frontend.json"),
        include_str!("../catalog/tr/frontend.json"),
    ),
    (
        "mobile.json",
        include_str!("../catalog/mobile.json"),
        include_str!("../catalog/tr/mobile.json"),
    ),
    (
        "data-science.json",
        include_str!("../catalog/data-science.json"),
        include_str!("../catalog/tr/data-science.json"),
    ),
    (
        "machine-learning.json",
        include_str!("../catalog/machine-learning.json"),
        include_str!("../catalog/tr/machine-learning.json"),
    ),
    (
        "devops-cloud.json",
        include_str!("../catalog/devops-cloud.json"),
        include_str!("../catalog/tr/devops-cloud.json"),
    ),
    (
        "cybersecurity.json",
        include_str!("../catalog/cybersecurity.json"),
        include_str!("../catalog/tr/cybersecurity.json"),
    ),
    (
        "ux-design.json",
        include_str!("../catalog/ux-design.json"),
        include_str!("../catalog/tr/ux-design.json"),
    ),
];

// The embedded files are fixed at compile time and the test suite loads them, so a failure
// here is a build defect caught by `cargo test`, never something user input can trigger.
/// A goal file's name, its text and its Turkish texts.
pub(crate) type Source = (&'static str, &'static str, &'static str);

pub(crate) static CATALOG: LazyLock<Catalog> = LazyLock::new(|| match Catalog::load(&SOURCES) {
    Ok(catalog) => catalog,
    Err(problems) => panic!("invalid embedded roadmap catalog:\n{}", problems.join("\n")),
});

impl Catalog {
    pub(crate) fn load(sources: &[Source]) -> Result<Catalog, Vec<String>> {
        let mut problems = Vec::new();
        let mut goals = Vec::new();
        let mut seen = BTreeSet::new();
        for (file, text, tr) in sources {
            let mut goal: Goal = match serde_json::from_str(text) {
                Ok(goal) => goal,
                Err(e) => {
                    problems.push(format!("{file}: {e}"));
                    continue;
                }
            };
            match serde_json::from_str::<Translation>(tr) {
                Ok(tr) => problems.extend(
                    translate(&mut goal, tr)
                        .into_iter()
                        .map(|e| format!("tr/{file}: {e}")),
                ),
                Err(e) => problems.push(format!("tr/{file}: {e}")),
            }
            if !seen.insert(goal.slug.clone()) {
                problems.push(format!("{file}: duplicate goal slug {:?}", goal.slug));
            }
            match compile(goal) {
                Ok(compiled) => goals.push(compiled),
                Err(errs) => problems.extend(errs.into_iter().map(|e| format!("{file}: {e}"))),
            }
        }
        if !problems.is_empty() {
            return Err(problems);
        }
        let summaries = Locale::ALL.map(|locale| {
            goals
                .iter()
                .map(|c| GoalSummary {
                    slug: c.goal.slug.clone(),
                    title: c.goal.title_in(locale).to_owned(),
                    description: c.goal.description_in(locale).to_owned(),
                })
                .collect()
        });
        Ok(Catalog { goals, summaries })
    }

    pub(crate) fn find(&self, slug: &str) -> Option<&CompiledGoal> {
        self.goals.iter().find(|c| c.goal.slug == slug)
    }
}

/// Puts `tr` into `goal`: every text present and non-empty, one per skill, no other slug.
fn translate(goal: &mut Goal, tr: Translation) -> Vec<String> {
    let mut problems = Vec::new();
    let blank = |s: &str| s.trim().is_empty();
    if blank(&tr.title) || blank(&tr.description) {
        problems.push("empty goal title or description".to_owned());
    }
    if Stage::ALL.iter().any(|&s| blank(tr.milestones.get(s))) {
        problems.push("empty milestone title".to_owned());
    }
    for skill in &mut goal.skills {
        match tr.skills.get(&skill.slug) {
            Some(texts) if !blank(&texts.title) && !blank(&texts.description) => {
                skill.tr = texts.clone()
            }
            Some(_) => problems.push(format!("{}: empty title or description", skill.slug)),
            None => problems.push(format!("{}: no translation", skill.slug)),
        }
    }
    for slug in tr.skills.keys().filter(|s| goal.skill(s).is_none()) {
        problems.push(format!("{slug}: not a skill of the goal"));
    }
    goal.tr = Texts {
        title: tr.title,
        description: tr.description,
    };
    goal.tr_milestones = tr.milestones;
    problems
}

fn is_slug(s: &str) -> bool {
    !s.is_empty()
        && !s.starts_with('-')
        && !s.ends_with('-')
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
}

/// Checks the structural invariants the generator relies on (so `generate` can never loop or
/// index out of bounds) and computes the plan order.
fn compile(goal: Goal) -> Result<CompiledGoal, Vec<String>> {
    let mut problems = Vec::new();
    let g = &goal.slug;
    if !is_slug(g) {
        problems.push(format!("goal slug {g:?} is not a lowercase slug"));
    }
    let mut index = BTreeMap::new();
    for (i, skill) in goal.skills.iter().enumerate() {
        if !is_slug(&skill.slug) {
            problems.push(format!("{g}: skill slug {:?} is not a slug", skill.slug));
        }
        if index.insert(skill.slug.as_str(), i).is_some() {
            problems.push(format!("{g}: duplicate skill slug {:?}", skill.slug));
        }
        if skill.est_hours == Hours::ZERO {
            problems.push(format!("{g}/{}: est_hours must be > 0", skill.slug));
        }
    }
    let mut prereqs: Vec<Vec<usize>> = vec![Vec::new(); goal.skills.len()];
    for (i, skill) in goal.skills.iter().enumerate() {
        let mut seen = BTreeSet::new();
        for p in &skill.prerequisites {
            if !seen.insert(p.as_str()) {
                problems.push(format!(
                    "{g}/{}: prerequisite {p:?} listed twice",
                    skill.slug
                ));
            }
            match index.get(p.as_str()) {
                None => problems.push(format!("{g}/{}: unknown prerequisite {p:?}", skill.slug)),
                Some(&j) if j == i => problems.push(format!("{g}/{}: requires itself", skill.slug)),
                Some(&j) => {
                    prereqs[i].push(j);
                    if goal.skills[j].stage > skill.stage {
                        problems.push(format!(
                            "{g}/{}: stage {} is before the stage {} of its prerequisite {p}",
                            skill.slug, skill.stage, goal.skills[j].stage
                        ));
                    }
                }
            }
        }
    }
    if goal.capstones.is_empty() {
        problems.push(format!("{g}: no capstones"));
    }
    for c in &goal.capstones {
        match index.get(c.as_str()) {
            None => problems.push(format!("{g}: unknown capstone {c:?}")),
            Some(&i) if goal.skills[i].stage != Stage::Capstone => {
                problems.push(format!("{g}: capstone {c:?} is not in the capstone stage"))
            }
            Some(_) => {}
        }
    }
    if !problems.is_empty() {
        return Err(problems);
    }

    // Kahn's algorithm: gives depth (longest prerequisite chain) and detects cycles.
    let n = goal.skills.len();
    let mut dependants: Vec<Vec<usize>> = vec![Vec::new(); n];
    let mut missing: Vec<usize> = vec![0; n];
    for (i, ps) in prereqs.iter().enumerate() {
        missing[i] = ps.len();
        for &p in ps {
            dependants[p].push(i);
        }
    }
    let mut depth = vec![0usize; n];
    let mut ready: Vec<usize> = (0..n).filter(|&i| missing[i] == 0).collect();
    let mut visited = 0;
    while let Some(i) = ready.pop() {
        visited += 1;
        for &d in &dependants[i] {
            depth[d] = depth[d].max(depth[i] + 1);
            missing[d] -= 1;
            if missing[d] == 0 {
                ready.push(d);
            }
        }
    }
    if visited != n {
        let cyclic: Vec<&str> = (0..n)
            .filter(|&i| missing[i] > 0)
            .map(|i| goal.skills[i].slug.as_str())
            .collect();
        return Err(vec![format!("{g}: prerequisite cycle among {cyclic:?}")]);
    }

    // Reachability: walk prerequisites backwards from the capstones.
    let mut reached = vec![false; n];
    let mut stack: Vec<usize> = goal
        .capstones
        .iter()
        .filter_map(|c| index.get(c.as_str()).copied())
        .collect();
    while let Some(i) = stack.pop() {
        if !std::mem::replace(&mut reached[i], true) {
            stack.extend(&prereqs[i]);
        }
    }
    for (i, skill) in goal.skills.iter().enumerate() {
        if !reached[i] {
            problems.push(format!("{g}/{}: does not lead to a capstone", skill.slug));
        }
    }
    if !problems.is_empty() {
        return Err(problems);
    }

    let mut order: Vec<usize> = (0..n).collect();
    order.sort_by_key(|&i| (goal.skills[i].stage, depth[i], i));
    Ok(CompiledGoal { goal, order })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn goal_json(skills: &str, capstones: &str) -> String {
        format!(
            r#"{{"slug":"g","title":"G","description":"d.",
            "milestones":{{"foundations":"F","core":"C","advanced":"A","capstone":"X"}},
            "capstones":{capstones},"skills":{skills}}}"#
        )
    }

    fn skill(slug: &str, stage: &str, prereqs: &[&str]) -> String {
        format!(
            r#"{{"slug":"{slug}","title":"T","description":"d.","stage":"{stage}","est_hours":1,
            "prerequisites":{},"resources":[]}}"#,
            serde_json::to_string(prereqs).unwrap()
        )
    }

    /// A complete Turkish file for the goal `text`, when it parses.
    fn translation_of(text: &str) -> String {
        let slugs: Vec<String> = serde_json::from_str::<serde_json::Value>(text)
            .ok()
            .and_then(|g| {
                g["skills"].as_array().map(|skills| {
                    skills
                        .iter()
                        .filter_map(|s| s["slug"].as_str().map(str::to_owned))
                        .collect()
                })
            })
            .unwrap_or_default();
        let skills: serde_json::Map<String, serde_json::Value> = slugs
            .into_iter()
            .map(|s| (s, serde_json::json!({"title": "B", "description": "a."})))
            .collect();
        serde_json::json!({"title": "H", "description": "a.",
            "milestones": {"foundations": "T", "core": "Ç", "advanced": "İ", "capstone": "B"},
            "skills": skills})
        .to_string()
    }

    fn load_one(text: &str) -> Result<Catalog, Vec<String>> {
        let tr: &'static str = Box::leak(translation_of(text).into_boxed_str());
        let text: &'static str = Box::leak(text.to_owned().into_boxed_str());
        Catalog::load(&[("g.json", text, tr)])
    }

    #[test]
    fn accepts_a_small_valid_goal_and_orders_it() {
        let skills = format!(
            "[{},{},{},{}]",
            skill("top", "capstone", &["b", "a"]),
            skill("b", "core", &["a"]),
            skill("c", "foundations", &[]),
            skill("a", "foundations", &["c"]),
        );
        let catalog = load_one(&goal_json(&skills, r#"["top"]"#)).unwrap();
        let compiled = &catalog.goals[0];
        let slugs: Vec<&str> = compiled
            .order
            .iter()
            .map(|&i| compiled.goal.skills[i].slug.as_str())
            .collect();
        assert_eq!(slugs, ["c", "a", "b", "top"]);
    }

    #[test]
    fn rejects_cycles_missing_prereqs_unreachable_and_stage_inversions() {
        let cycle = format!(
            "[{},{},{}]",
            skill("top", "capstone", &["a"]),
            skill("a", "core", &["b"]),
            skill("b", "core", &["a"]),
        );
        let err = load_one(&goal_json(&cycle, r#"["top"]"#)).err().unwrap();
        assert!(err[0].contains("cycle"), "{err:?}");

        let missing = format!("[{}]", skill("top", "capstone", &["nope"]));
        let err = load_one(&goal_json(&missing, r#"["top"]"#)).err().unwrap();
        assert!(err[0].contains("unknown prerequisite"), "{err:?}");

        let stray = format!(
            "[{},{}]",
            skill("top", "capstone", &[]),
            skill("stray", "core", &[])
        );
        let err = load_one(&goal_json(&stray, r#"["top"]"#)).err().unwrap();
        assert!(err[0].contains("does not lead"), "{err:?}");

        let inverted = format!(
            "[{},{},{}]",
            skill("top", "capstone", &["a"]),
            skill("a", "foundations", &["b"]),
            skill("b", "advanced", &[]),
        );
        let err = load_one(&goal_json(&inverted, r#"["top"]"#)).err().unwrap();
        assert!(err.iter().any(|e| e.contains("stage")), "{err:?}");

        let dup = format!(
            "[{},{}]",
            skill("top", "capstone", &[]),
            skill("top", "capstone", &[])
        );
        let err = load_one(&goal_json(&dup, r#"["top"]"#)).err().unwrap();
        assert!(err[0].contains("duplicate"), "{err:?}");
    }

    #[test]
    fn rejects_a_missing_empty_or_stray_translation() {
        let text = goal_json(
            &format!(
                "[{},{}]",
                skill("top", "capstone", &["a"]),
                skill("a", "core", &[])
            ),
            r#"["top"]"#,
        );
        let tr: serde_json::Value = serde_json::from_str(&translation_of(&text)).unwrap();
        let load = |tr: serde_json::Value| {
            let tr: &'static str = Box::leak(tr.to_string().into_boxed_str());
            let text: &'static str = Box::leak(text.clone().into_boxed_str());
            Catalog::load(&[("g.json", text, tr)])
        };
        let catalog = load(tr.clone()).map_err(|e| e.join("; ")).unwrap();
        assert_eq!(catalog.goals[0].goal.skills[1].title_in(Locale::Tr), "B");
        assert_eq!(catalog.summaries[1][0].title, "H");

        let mut missing = tr.clone();
        missing["skills"].as_object_mut().unwrap().remove("a");
        let err = load(missing).err().unwrap();
        assert!(err[0].contains("a: no translation"), "{err:?}");

        let mut empty = tr.clone();
        empty["skills"]["a"]["title"] = " ".into();
        let err = load(empty).err().unwrap();
        assert!(err[0].contains("empty"), "{err:?}");

        let mut stray = tr.clone();
        stray["skills"]["zzz"] = serde_json::json!({"title": "x", "description": "y"});
        let err = load(stray).err().unwrap();
        assert!(err[0].contains("zzz: not a skill"), "{err:?}");
    }

    #[test]
    fn rejects_unknown_fields_and_zero_hours() {
        let extra = goal_json("[]", r#"["x"]"#).replace(r#""slug":"g""#, r#""slug":"g","x":1"#);
        assert!(load_one(&extra).is_err());
        let zero = goal_json(
            &format!("[{}]", skill("top", "capstone", &[]))
                .replace("\"est_hours\":1", "\"est_hours\":0"),
            r#"["top"]"#,
        );
        let err = load_one(&zero).err().unwrap();
        assert!(err[0].contains("est_hours"), "{err:?}");
    }
}
