//! Property tests: for random goals, levels, weekly budgets and known skills, every invariant
//! of the API contract and of the documented ordering, allocation and milestone rules holds.

use std::collections::{BTreeMap, BTreeSet};

use proptest::prelude::*;
use rota_roadmap::{GenerateError, Goal, Hours, Level, Plan, Stage, catalog, generate, goal};

/// Level factor as a float, kept separate from the crate's integer implementation.
fn factor(level: Level) -> f64 {
    match level {
        Level::Beginner => 1.0,
        Level::Intermediate => 0.75,
        Level::Advanced => 0.5,
    }
}

fn expected_hours(beginner: Hours, level: Level) -> u32 {
    // Exact in f64: beginner hours are multiples of 0.5 and factors are multiples of 0.25.
    let halves = (beginner.as_f64() * factor(level) * 2.0).round() as u32;
    halves.max(1)
}

/// Checks `plan` against every documented invariant for the given request.
fn check_plan(g: &Goal, level: Level, hours_per_week: u32, known: &BTreeSet<&str>, plan: &Plan) {
    let skill = |slug: &str| g.skills.iter().find(|s| s.slug == slug).unwrap();

    assert_eq!(plan.goal, g.slug);
    assert_eq!(plan.level, level);
    assert_eq!(plan.hours_per_week, hours_per_week);
    assert_eq!(
        plan.title,
        format!("{} roadmap ({level}, {hours_per_week} h/week)", g.title)
    );

    // Exactly the unknown skills, each once.
    let steps: Vec<_> = plan.steps().collect();
    let planned: Vec<&str> = steps.iter().map(|s| s.skill.as_str()).collect();
    let planned_set: BTreeSet<&str> = planned.iter().copied().collect();
    assert_eq!(planned_set.len(), planned.len(), "duplicate step");
    let expected: BTreeSet<&str> = g
        .skills
        .iter()
        .map(|s| s.slug.as_str())
        .filter(|s| !known.contains(s))
        .collect();
    assert_eq!(planned_set, expected);

    // Prerequisites first, unless known.
    let position: BTreeMap<&str, usize> =
        planned.iter().enumerate().map(|(i, s)| (*s, i)).collect();
    for (i, step) in steps.iter().enumerate() {
        for p in &skill(&step.skill).prerequisites {
            assert!(
                known.contains(p.as_str()) || position[p.as_str()] < i,
                "{} planned before its prerequisite {p}",
                step.skill
            );
        }
    }

    // Step content comes from the catalog; hours are scaled and never zero.
    for step in &steps {
        let s = skill(&step.skill);
        assert_eq!(step.title, s.title);
        assert_eq!(step.description, s.description);
        assert_eq!(step.resources, s.resources);
        assert_eq!(
            step.est_hours.half_hours(),
            expected_hours(s.est_hours, level)
        );
        assert!(step.est_hours > Hours::ZERO);
    }

    // Replay the allocation rule: start in the first week with capacity left, fill in order.
    let cap = hours_per_week * 2;
    let mut loads: Vec<u32> = Vec::new();
    let mut week = 1u32;
    for step in &steps {
        if loads.get(week as usize - 1) == Some(&cap) {
            week += 1;
        }
        assert_eq!(step.week_start, week, "{}: week_start", step.skill);
        let mut left = step.est_hours.half_hours();
        loop {
            if loads.len() < week as usize {
                loads.push(0);
            }
            let load = &mut loads[week as usize - 1];
            let take = left.min(cap - *load);
            *load += take;
            left -= take;
            if left == 0 {
                break;
            }
            week += 1;
        }
        assert_eq!(step.week_end, week, "{}: week_end", step.skill);
        assert!(step.week_start <= step.week_end);
    }
    // No week over budget, none empty, and every week but the last full.
    assert!(loads.iter().all(|&l| l > 0 && l <= cap), "{loads:?}");
    assert!(
        loads[..loads.len() - 1].iter().all(|&l| l == cap),
        "{loads:?}"
    );
    assert_eq!(
        plan.week_loads(),
        loads
            .iter()
            .map(|&l| Hours::from_half_hours(l))
            .collect::<Vec<_>>()
    );

    // Totals add up exactly.
    let total: Hours = steps.iter().map(|s| s.est_hours).sum();
    assert_eq!(plan.total_hours, total);
    assert_eq!(loads.iter().sum::<u32>(), total.half_hours());
    assert_eq!(plan.total_weeks as usize, loads.len());
    assert_eq!(plan.total_weeks, steps.last().unwrap().week_end);
    assert_eq!(plan.total_weeks, total.half_hours().div_ceil(cap));

    // Milestones: consecutive, non-empty runs of one stage each, in stage order, whose week
    // ranges are those of their first and last steps.
    let mut last_stage: Option<Stage> = None;
    let mut last_end = 1;
    for (i, m) in plan.milestones.iter().enumerate() {
        assert_eq!(m.index as usize, i);
        assert!(!m.steps.is_empty());
        let stage = skill(&m.steps[0].skill).stage;
        assert!(m.steps.iter().all(|s| skill(&s.skill).stage == stage));
        assert!(last_stage < Some(stage), "stages out of order");
        last_stage = Some(stage);
        assert_eq!(m.title, g.milestones.get(stage));
        assert_eq!(m.week_start, m.steps[0].week_start);
        assert_eq!(m.week_end, m.steps.last().unwrap().week_end);
        assert!(m.week_start <= m.week_end);
        assert!(
            m.week_start >= last_end,
            "milestones overlap beyond a shared week"
        );
        last_end = m.week_end;
    }
    assert_eq!(plan.milestones[0].week_start, 1);

    // JSON shape of the contract, and a lossless round trip.
    let json = serde_json::to_value(plan).unwrap();
    let keys =
        |v: &serde_json::Value| -> Vec<String> { v.as_object().unwrap().keys().cloned().collect() };
    assert_eq!(
        keys(&json),
        [
            "goal",
            "hours_per_week",
            "level",
            "milestones",
            "title",
            "total_hours",
            "total_weeks"
        ]
    );
    assert_eq!(json["level"], level.to_string());
    let m0 = &json["milestones"][0];
    assert_eq!(
        keys(m0),
        ["index", "steps", "title", "week_end", "week_start"]
    );
    assert_eq!(
        keys(&m0["steps"][0]),
        [
            "description",
            "est_hours",
            "resources",
            "skill",
            "title",
            "week_end",
            "week_start"
        ]
    );
    assert!(m0["steps"][0]["est_hours"].is_number());
    assert_eq!(serde_json::from_value::<Plan>(json).unwrap(), *plan);
}

fn goal_index() -> impl Strategy<Value = usize> {
    0..catalog().len()
}

fn level() -> impl Strategy<Value = Level> {
    prop::sample::select(Level::ALL.to_vec())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn generated_plans_satisfy_every_invariant(
        gi in goal_index(),
        level in level(),
        hours_per_week in 1u32..=80,
        // Density 0..=100 so that "nothing known" and "everything known" both come up.
        density in 0u8..=100,
        mask in prop::collection::vec(0u8..100, 64),
        junk in prop::collection::vec("[a-z0-9-]{0,16}", 0..4),
    ) {
        let g = goal(&catalog()[gi].slug).unwrap();
        prop_assert!(g.skills.len() <= mask.len());
        let mut known: Vec<String> = g
            .skills
            .iter()
            .zip(&mask)
            .filter(|(_, m)| **m < density)
            .map(|(s, _)| s.slug.clone())
            .collect();
        let all_known = known.len() == g.skills.len();
        // Slugs of no skill of this goal are ignored.
        known.extend(junk.into_iter().filter(|j| g.skills.iter().all(|s| &s.slug != j)));
        let known_set: BTreeSet<&str> = known.iter().map(String::as_str).collect();

        let result = generate(&g.slug, level, hours_per_week, &known);
        if all_known {
            prop_assert_eq!(result, Err(GenerateError::NothingToLearn));
            return Ok(());
        }
        let plan = result.unwrap();
        check_plan(g, level, hours_per_week, &known_set, &plan);

        // Deterministic, and independent of the order and repetition of known_skills.
        prop_assert_eq!(&generate(&g.slug, level, hours_per_week, &known).unwrap(), &plan);
        let mut shuffled: Vec<String> = known.iter().rev().cloned().collect();
        shuffled.extend(known.iter().cloned());
        prop_assert_eq!(&generate(&g.slug, level, hours_per_week, &shuffled).unwrap(), &plan);
    }

    #[test]
    fn never_panics_on_arbitrary_input(
        goal_text in any::<String>(),
        use_real_goal in any::<bool>(),
        gi in goal_index(),
        level in level(),
        hours_per_week in any::<u32>(),
        known in prop::collection::vec(any::<String>(), 0..8),
    ) {
        let slug = if use_real_goal { catalog()[gi].slug.clone() } else { goal_text };
        let real = catalog().iter().any(|g| g.slug == slug);
        match generate(&slug, level, hours_per_week, &known) {
            Ok(plan) => {
                prop_assert!(real && (1..=80).contains(&hours_per_week));
                prop_assert!(plan.total_weeks >= 1);
            }
            Err(GenerateError::UnknownGoal) => prop_assert!(!real),
            Err(GenerateError::HoursPerWeekOutOfRange) => {
                prop_assert!(real && !(1..=80).contains(&hours_per_week));
            }
            Err(GenerateError::NothingToLearn) => prop_assert!(false, "random strings are never all skills"),
        }
    }
}
