//! Times `generate` over every goal, level and a spread of weekly hours and known skills, and
//! prints p50/p95/max. `cargo run --release -p rota-roadmap --example generate_cost`.

use std::time::Instant;

fn main() {
    let mut times = Vec::new();
    for goal in rota_roadmap::catalog() {
        let skills: Vec<String> = rota_roadmap::goal_skills(&goal.slug)
            .unwrap_or_default()
            .iter()
            .map(|s| s.slug.clone())
            .collect();
        for level in rota_roadmap::Level::ALL {
            for hours in [1, 5, 10, 20, 40, 80] {
                for known in [0, 3, 8] {
                    let known = &skills[..known.min(skills.len())];
                    let t = Instant::now();
                    let plan = rota_roadmap::generate(&goal.slug, level, hours, known);
                    times.push(t.elapsed().as_secs_f64() * 1e6);
                    assert!(plan.is_ok());
                }
            }
        }
    }
    times.sort_by(f64::total_cmp);
    let at = |p: f64| times[((times.len() as f64 - 1.0) * p).round() as usize];
    println!(
        "generate: {} plans, p50 {:.0} µs, p95 {:.0} µs, max {:.0} µs",
        times.len(),
        at(0.5),
        at(0.95),
        times[times.len() - 1]
    );
}
