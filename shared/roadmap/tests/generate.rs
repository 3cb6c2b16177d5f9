//! Example-based tests of the generator's documented choices.

use rota_roadmap::{GenerateError, Hours, Level, catalog, generate, goal_skills};

fn slugs(plan: &rota_roadmap::Plan) -> Vec<&str> {
    plan.steps().map(|s| s.skill.as_str()).collect()
}

#[test]
fn backend_beginner_starts_with_fundamentals_and_has_four_milestones() {
    let plan = generate("backend", Level::Beginner, 10, &[]).unwrap();
    assert_eq!(
        plan.title,
        "Backend developer roadmap (beginner, 10 h/week)"
    );
    let first = &slugs(&plan)[..4];
    assert_eq!(
        first,
        [
            "command-line",
            "programming-language",
            "http-fundamentals",
            "sql-basics"
        ]
    );
    assert_eq!(plan.milestones.len(), 4);
    assert!(plan.milestones[3].title.starts_with("Capstone"));
    // Beginner hours are the catalog's.
    let catalog_total: Hours = goal_skills("backend")
        .unwrap()
        .iter()
        .map(|s| s.est_hours)
        .sum();
    assert_eq!(plan.total_hours, catalog_total);
    assert_eq!(plan.total_weeks, catalog_total.half_hours().div_ceil(20));
}

#[test]
fn levels_scale_hours() {
    let hours = |level| {
        let plan = generate("backend", level, 10, &[]).unwrap();
        plan.steps()
            .find(|s| s.skill == "programming-language")
            .unwrap()
            .est_hours
    };
    assert_eq!(hours(Level::Beginner), Hours::from_hours(60));
    assert_eq!(hours(Level::Intermediate), Hours::from_hours(45));
    assert_eq!(hours(Level::Advanced), Hours::from_hours(30));
}

#[test]
fn long_steps_span_consecutive_weeks_and_short_ones_share_weeks() {
    let plan = generate("backend", Level::Beginner, 1, &[]).unwrap();
    let steps: Vec<_> = plan.steps().collect();
    // 8 h of command line at 1 h/week fills weeks 1..=8; then 60 h of language 9..=68.
    assert_eq!((steps[0].week_start, steps[0].week_end), (1, 8));
    assert_eq!((steps[1].week_start, steps[1].week_end), (9, 68));

    let plan = generate("backend", Level::Beginner, 80, &[]).unwrap();
    let steps: Vec<_> = plan.steps().collect();
    assert_eq!((steps[0].week_start, steps[0].week_end), (1, 1));
    assert_eq!((steps[1].week_start, steps[1].week_end), (1, 1));
}

#[test]
fn known_skills_are_left_out_and_count_as_satisfied() {
    let known = vec!["programming-language".to_owned(), "sql-basics".to_owned()];
    let plan = generate("backend", Level::Beginner, 10, &known).unwrap();
    let planned = slugs(&plan);
    assert!(!planned.contains(&"programming-language"));
    assert!(!planned.contains(&"sql-basics"));
    // Dependants stay, and are not blocked by the missing prerequisites.
    assert!(planned.contains(&"web-framework"));
    assert!(planned.contains(&"data-modeling"));
}

#[test]
fn unknown_and_duplicate_known_skills_are_ignored() {
    let base = generate("frontend", Level::Intermediate, 7, &[]).unwrap();
    let noisy = vec![
        "not-a-skill".to_owned(),
        "".to_owned(),
        "pandas".to_owned(), // a skill of another goal
        "HTML".to_owned(),   // slugs are case-sensitive
    ];
    assert_eq!(
        generate("frontend", Level::Intermediate, 7, &noisy).unwrap(),
        base
    );

    let once = vec!["html".to_owned()];
    let twice = vec!["html".to_owned(), "html".to_owned()];
    assert_eq!(
        generate("frontend", Level::Intermediate, 7, &once),
        generate("frontend", Level::Intermediate, 7, &twice)
    );
}

#[test]
fn errors() {
    assert_eq!(
        generate("nope", Level::Beginner, 10, &[]),
        Err(GenerateError::UnknownGoal)
    );
    assert_eq!(
        generate("", Level::Beginner, 10, &[]),
        Err(GenerateError::UnknownGoal)
    );
    assert_eq!(
        generate("Backend", Level::Beginner, 10, &[]),
        Err(GenerateError::UnknownGoal)
    );
    for hours in [0, 81, u32::MAX] {
        assert_eq!(
            generate("backend", Level::Beginner, hours, &[]),
            Err(GenerateError::HoursPerWeekOutOfRange)
        );
    }
    // An unknown goal is reported first when both are wrong.
    assert_eq!(
        generate("nope", Level::Beginner, 0, &[]),
        Err(GenerateError::UnknownGoal)
    );

    for g in catalog() {
        let all: Vec<String> = goal_skills(&g.slug)
            .unwrap()
            .iter()
            .map(|s| s.slug.clone())
            .collect();
        assert_eq!(
            generate(&g.slug, Level::Advanced, 5, &all),
            Err(GenerateError::NothingToLearn)
        );
    }

    assert_eq!(GenerateError::UnknownGoal.field(), "goal");
    assert_eq!(
        GenerateError::HoursPerWeekOutOfRange.field(),
        "hours_per_week"
    );
    assert_eq!(GenerateError::NothingToLearn.field(), "known_skills");
    assert_eq!(
        GenerateError::HoursPerWeekOutOfRange.to_string(),
        "hours_per_week must be between 1 and 80"
    );
}

#[test]
fn half_hours_serialise_as_json_numbers() {
    let plan = generate("backend", Level::Intermediate, 10, &[]).unwrap();
    // 15 h of REST API design × 0.75 = 11.25 h, rounded to 11.5 h.
    let step = plan.steps().find(|s| s.skill == "rest-api-design").unwrap();
    assert_eq!(step.est_hours, Hours::from_half_hours(23));
    let json = serde_json::to_value(step).unwrap();
    assert_eq!(json["est_hours"], serde_json::json!(11.5));
    let json = serde_json::to_value(&plan).unwrap();
    assert_eq!(json["level"], "intermediate");
}
