//! Prints a generated roadmap so a human can read it.
//!
//! Usage: cargo run --example print_plan -- <goal> <level> <hours_per_week> [known_skill ...]
//! With no arguments, lists the goals of the catalog.

use std::process::ExitCode;

use rota_roadmap::{Level, catalog, generate};

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.len() < 3 {
        eprintln!(
            "usage: print_plan <goal> <beginner|intermediate|advanced> <hours_per_week> [known_skill ...]"
        );
        eprintln!("goals:");
        for g in catalog() {
            eprintln!("  {:<18} {}", g.slug, g.title);
        }
        return ExitCode::from(2);
    }
    let level: Level = match args[1].parse() {
        Ok(level) => level,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::from(2);
        }
    };
    let Ok(hours_per_week) = args[2].parse::<u32>() else {
        eprintln!("hours_per_week must be a whole number");
        return ExitCode::from(2);
    };
    let plan = match generate(&args[0], level, hours_per_week, &args[3..]) {
        Ok(plan) => plan,
        Err(e) => {
            eprintln!("{}: {e}", e.field());
            return ExitCode::from(1);
        }
    };

    println!("{}", plan.title);
    println!(
        "{} h in {} weeks at up to {} h/week\n",
        plan.total_hours, plan.total_weeks, plan.hours_per_week
    );
    for m in &plan.milestones {
        println!(
            "Milestone {}: {} (weeks {}-{})",
            m.index + 1,
            m.title,
            m.week_start,
            m.week_end
        );
        for s in &m.steps {
            let weeks = if s.week_start == s.week_end {
                format!("week {}", s.week_start)
            } else {
                format!("weeks {}-{}", s.week_start, s.week_end)
            };
            println!("  - {} [{}] {} h, {}", s.title, s.skill, s.est_hours, weeks);
            println!("      {}", s.description);
            for r in &s.resources {
                println!("      * {}: {}", r.title, r.url);
            }
        }
        println!();
    }
    ExitCode::SUCCESS
}
