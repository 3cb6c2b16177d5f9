//! Checks every rule of the catalog, independently of the checks done when it loads.
//!
//! Reachability rule under test: every skill of a goal is an ancestor-or-self of one of the
//! goal's `capstones`.

use std::collections::{BTreeMap, BTreeSet};

use rota_roadmap::{Goal, Hours, Stage, catalog, goal, goal_skills, goals};

/// The goals the API promises: the `GoalSlug` enum of the OpenAPI document (which the typed
/// client holds the server to, and `tests/suite/openapi_exact.rs` holds equal to the catalog).
fn required_goals() -> Vec<String> {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../api/openapi.yaml");
    let doc: serde_yaml_ng::Value =
        serde_yaml_ng::from_str(&std::fs::read_to_string(path).expect("openapi.yaml")).unwrap();
    let slugs = &doc["components"]["schemas"]["GoalSlug"]["enum"];
    let slugs: Vec<String> = serde_yaml_ng::from_value(slugs.clone()).expect("GoalSlug's enum");
    assert_eq!(slugs.len(), 8, "the eight required goals: {slugs:?}");
    slugs
}

/// Whether no value of `items` appears twice.
fn distinct<T: Ord>(items: &[T]) -> bool {
    items.iter().collect::<BTreeSet<_>>().len() == items.len()
}

fn index(g: &Goal) -> BTreeMap<&str, usize> {
    g.skills
        .iter()
        .enumerate()
        .map(|(i, s)| (s.slug.as_str(), i))
        .collect()
}

/// Host of an `https://` URL, or `None` if the URL is not https or has no usable host.
fn https_host(url: &str) -> Option<&str> {
    let rest = url.strip_prefix("https://")?;
    let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let host = &rest[..end];
    let labels_ok = host.split('.').all(|l| {
        !l.is_empty()
            && !l.starts_with('-')
            && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
    });
    (host.contains('.') && labels_ok).then_some(host)
}

#[test]
fn url_checker_rejects_bad_urls() {
    assert_eq!(
        https_host("https://doc.rust-lang.org/book/"),
        Some("doc.rust-lang.org")
    );
    assert_eq!(https_host("https://12factor.net"), Some("12factor.net"));
    for bad in [
        "http://example.com/",
        "https:///path",
        "https://localhost/",
        "https://exa mple.com/",
        "ftp://example.com",
        "https://.example.com",
    ] {
        assert_eq!(https_host(bad), None, "{bad}");
    }
}

#[test]
fn has_at_least_the_eight_required_goals() {
    let slugs: Vec<&str> = catalog().iter().map(|g| g.slug.as_str()).collect();
    assert!(slugs.len() >= 8, "{slugs:?}");
    for required in required_goals() {
        assert!(
            slugs.contains(&required.as_str()),
            "missing goal {required}"
        );
    }
    assert!(distinct(&slugs), "duplicate goal slugs");
}

#[test]
fn catalog_summaries_match_goals() {
    let all: Vec<&Goal> = goals().collect();
    assert_eq!(all.len(), catalog().len());
    for (summary, g) in catalog().iter().zip(all) {
        assert_eq!(summary.slug, g.slug);
        assert_eq!(summary.title, g.title);
        assert_eq!(summary.description, g.description);
        assert!(!g.title.trim().is_empty() && !g.description.trim().is_empty());
        assert_eq!(goal(&g.slug), Some(g));
        assert_eq!(goal_skills(&g.slug), Some(g.skills.as_slice()));
    }
    assert_eq!(goal("nope"), None);
    assert_eq!(goal_skills(""), None);
    // The catalog endpoint body is exactly {slug, title, description} per goal.
    let json = serde_json::to_value(&catalog()[0]).unwrap();
    let keys: Vec<&String> = json.as_object().unwrap().keys().collect();
    assert_eq!(keys, ["description", "slug", "title"]);
}

#[test]
fn every_goal_has_enough_unique_skills_with_positive_hours() {
    for g in goals() {
        assert!(
            g.skills.len() >= 20,
            "{}: only {} skills",
            g.slug,
            g.skills.len()
        );
        let idx = index(g);
        assert_eq!(
            idx.len(),
            g.skills.len(),
            "{}: duplicate skill slugs",
            g.slug
        );
        for s in &g.skills {
            assert!(
                s.est_hours > Hours::ZERO,
                "{}/{}: zero hours",
                g.slug,
                s.slug
            );
            // Beginner estimates: at least an hour, at most a couple of months part-time.
            assert!(
                (Hours::from_hours(1)..=Hours::from_hours(80)).contains(&s.est_hours),
                "{}/{}: unrealistic {} h",
                g.slug,
                s.slug,
                s.est_hours
            );
            assert!(!s.title.trim().is_empty(), "{}/{}", g.slug, s.slug);
            assert!(
                s.description.len() >= 40 && s.description.ends_with('.'),
                "{}/{}: description should be a sentence or two of advice",
                g.slug,
                s.slug
            );
        }
    }
}

#[test]
fn every_prerequisite_exists_in_the_same_goal_and_stages_never_go_backwards() {
    for g in goals() {
        let idx = index(g);
        for s in &g.skills {
            let at = format!("{}/{}", g.slug, s.slug);
            assert!(distinct(&s.prerequisites), "{at}: duplicate prerequisite");
            for p in &s.prerequisites {
                let &j = idx
                    .get(p.as_str())
                    .unwrap_or_else(|| panic!("{}/{}: unknown prerequisite {p}", g.slug, s.slug));
                assert_ne!(p, &s.slug, "{}/{}: requires itself", g.slug, s.slug);
                assert!(
                    g.skills[j].stage <= s.stage,
                    "{}/{}: prerequisite {p} is in a later stage",
                    g.slug,
                    s.slug
                );
            }
        }
    }
}

#[test]
fn every_goal_graph_is_acyclic() {
    // Depth-first search with colours: reaching a grey node again means a cycle.
    fn visit(g: &Goal, idx: &BTreeMap<&str, usize>, i: usize, colour: &mut [u8]) {
        match colour[i] {
            1 => panic!("{}: cycle through {}", g.slug, g.skills[i].slug),
            2 => return,
            _ => {}
        }
        colour[i] = 1;
        for p in &g.skills[i].prerequisites {
            visit(g, idx, idx[p.as_str()], colour);
        }
        colour[i] = 2;
    }
    for g in goals() {
        let idx = index(g);
        let mut colour = vec![0u8; g.skills.len()];
        for i in 0..g.skills.len() {
            visit(g, &idx, i, &mut colour);
        }
    }
}

#[test]
fn every_skill_leads_to_a_capstone() {
    for g in goals() {
        let idx = index(g);
        assert!(!g.capstones.is_empty(), "{}: no capstone", g.slug);
        let mut reached = BTreeSet::new();
        let mut stack: Vec<&str> = Vec::new();
        for c in &g.capstones {
            let &i = idx
                .get(c.as_str())
                .unwrap_or_else(|| panic!("{}: unknown capstone {c}", g.slug));
            assert_eq!(
                g.skills[i].stage,
                Stage::Capstone,
                "{}: capstone {c} stage",
                g.slug
            );
            stack.push(c);
        }
        while let Some(s) = stack.pop() {
            if reached.insert(s) {
                stack.extend(g.skills[idx[s]].prerequisites.iter().map(String::as_str));
            }
        }
        for s in &g.skills {
            assert!(
                reached.contains(s.slug.as_str()),
                "{}/{}: unreachable from the capstone",
                g.slug,
                s.slug
            );
        }
        // A sensible start: something to learn with no prerequisites, in the first stage.
        assert!(
            g.skills
                .iter()
                .any(|s| s.prerequisites.is_empty() && s.stage == Stage::Foundations),
            "{}: no starting point",
            g.slug
        );
        for stage in Stage::ALL {
            assert!(
                !g.milestones.get(stage).trim().is_empty(),
                "{}: {stage} title",
                g.slug
            );
            assert!(
                g.skills.iter().any(|s| s.stage == stage),
                "{}: empty stage {stage}",
                g.slug
            );
        }
    }
}

#[test]
fn every_skill_has_two_https_resources() {
    for g in goals() {
        for s in &g.skills {
            assert!(
                s.resources.len() >= 2,
                "{}/{}: fewer than 2 resources",
                g.slug,
                s.slug
            );
            let urls: Vec<&str> = s.resources.iter().map(|r| r.url.as_str()).collect();
            assert!(distinct(&urls), "{}/{}: duplicate resource", g.slug, s.slug);
            for r in &s.resources {
                assert!(
                    !r.title.trim().is_empty(),
                    "{}/{}: untitled resource",
                    g.slug,
                    s.slug
                );
                assert!(
                    https_host(&r.url).is_some() && !r.url.contains(char::is_whitespace),
                    "{}/{}: bad url {}",
                    g.slug,
                    s.slug,
                    r.url
                );
            }
        }
    }
}

#[test]
fn shared_skill_slugs_mean_the_same_kind_of_thing() {
    // The same slug in two goals must name the same skill. Goals may phrase the title for
    // their audience and estimate hours differently, but the titles must share a word: this
    // catches one slug reused for two unrelated skills.
    let mut by_slug: BTreeMap<&str, Vec<(&str, &str)>> = BTreeMap::new();
    for g in goals() {
        for s in &g.skills {
            by_slug
                .entry(&s.slug)
                .or_default()
                .push((&g.slug, &s.title));
        }
    }
    for (slug, uses) in by_slug.iter().filter(|(_, u)| u.len() > 1) {
        let words = |t: &str| -> BTreeSet<String> {
            t.split(|c: char| !c.is_alphanumeric())
                .filter(|w| w.len() > 2)
                .map(str::to_lowercase)
                .collect()
        };
        let first = words(uses[0].1);
        for (g, title) in &uses[1..] {
            assert!(
                !first.is_disjoint(&words(title)),
                "{slug}: '{}' vs '{title}' in {g}",
                uses[0].1
            );
        }
    }
}

/// Every goal, milestone and skill reads in Turkish as well as English, and the Turkish text is
/// a translation, not a copy (a name such as "TypeScript" would be the same in both: titles
/// are phrased so that none is a bare name).
#[test]
fn every_entry_has_both_languages_and_turkish_differs_from_english() {
    use rota_roadmap::{Locale, catalog_in};
    let turkish_letters = |s: &str| s.chars().any(|c| "ıİşŞğĞçÇöÖüÜ".contains(c));
    let mut untranslated = Vec::new();
    let mut pairs: Vec<(String, &str, &str)> = Vec::new();
    for g in goals() {
        pairs.push((
            format!("{}: title", g.slug),
            g.title_in(Locale::En),
            g.title_in(Locale::Tr),
        ));
        pairs.push((
            format!("{}: description", g.slug),
            g.description_in(Locale::En),
            g.description_in(Locale::Tr),
        ));
        for stage in Stage::ALL {
            pairs.push((
                format!("{}: milestone {stage}", g.slug),
                g.milestone_in(stage, Locale::En),
                g.milestone_in(stage, Locale::Tr),
            ));
        }
        for s in &g.skills {
            pairs.push((
                format!("{}/{}: title", g.slug, s.slug),
                &s.title,
                s.title_in(Locale::Tr),
            ));
            pairs.push((
                format!("{}/{}: description", g.slug, s.slug),
                &s.description,
                s.description_in(Locale::Tr),
            ));
        }
    }
    for (what, en, tr) in &pairs {
        if en.trim().is_empty() || tr.trim().is_empty() || en == tr {
            untranslated.push(what.clone());
        }
    }
    assert!(
        untranslated.is_empty(),
        "not in both languages: {untranslated:#?}"
    );
    // Written in Turkish: descriptions carry Turkish letters (not ASCII transliteration).
    let ascii_only: Vec<&String> = pairs
        .iter()
        .filter(|(what, _, tr)| what.ends_with("description") && !turkish_letters(tr))
        .map(|(what, _, _)| what)
        .collect();
    assert!(
        ascii_only.is_empty(),
        "Turkish without Turkish letters: {ascii_only:#?}"
    );
    // The summaries the API lists follow the same texts, in the same order.
    for (en, tr) in catalog_in(Locale::En).iter().zip(catalog_in(Locale::Tr)) {
        assert_eq!(en.slug, tr.slug);
        assert_ne!(en.title, tr.title);
        assert_eq!(tr.title, goal(&tr.slug).unwrap().title_in(Locale::Tr));
    }
    assert_eq!(catalog_in(Locale::En), catalog());
}

#[test]
fn a_plan_reads_in_turkish_by_skill_and_stage() {
    use rota_roadmap::{Level, Locale, generate, plan_title, step_title_in};
    let plan = generate("backend", Level::Beginner, 10, &[]).unwrap();
    assert_eq!(
        plan.title,
        "Backend developer roadmap (beginner, 10 h/week)"
    );
    let tr = plan.localized(Locale::Tr);
    assert_eq!(
        tr.title,
        "Backend geliştirici yol haritası (başlangıç, haftada 10 saat)"
    );
    assert_eq!(
        plan_title("backend", Level::Advanced, 6, Locale::Tr).as_deref(),
        Some("Backend geliştirici yol haritası (ileri, haftada 6 saat)")
    );
    let g = goal("backend").unwrap();
    assert_eq!(
        tr.milestones[0].title,
        g.milestone_in(Stage::Foundations, Locale::Tr)
    );
    // Only the texts change: the same steps, weeks and hours.
    assert_eq!(tr.milestones.len(), plan.milestones.len());
    for (a, b) in plan.steps().zip(tr.steps()) {
        assert_eq!(
            (&a.skill, a.week_start, a.est_hours),
            (&b.skill, b.week_start, b.est_hours)
        );
        let skill = g.skill(&a.skill).unwrap();
        assert_eq!(b.title, skill.title_in(Locale::Tr));
        assert_eq!(b.description, skill.description_in(Locale::Tr));
        assert_ne!(a.title, b.title);
        assert_eq!(
            step_title_in("backend", &a.title, Locale::Tr),
            Some(b.title.as_str())
        );
    }
    assert_eq!(tr.localized(Locale::En), plan);
}
