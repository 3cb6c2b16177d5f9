//! Checks every rule of the catalog, independently of the checks done when it loads.
//!
//! Reachability rule under test: every skill of a goal is an ancestor-or-self of one of the
//! goal's `capstones`.

use std::collections::{BTreeMap, BTreeSet};

use rota_roadmap::{Goal, Hours, Stage, catalog, goal, goal_skills, goals};

const REQUIRED_GOALS: [&str; 8] = [
    "backend",
    "frontend",
    "mobile",
    "data-science",
    "machine-learning",
    "devops-cloud",
    "cybersecurity",
    "ux-design",
];

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
    for required in REQUIRED_GOALS {
        assert!(slugs.contains(&required), "missing goal {required}");
    }
    let unique: BTreeSet<&str> = slugs.iter().copied().collect();
    assert_eq!(unique.len(), slugs.len(), "duplicate goal slugs");
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
            let unique: BTreeSet<&String> = s.prerequisites.iter().collect();
            assert_eq!(
                unique.len(),
                s.prerequisites.len(),
                "{}/{}: duplicate prerequisite",
                g.slug,
                s.slug
            );
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
            let urls: BTreeSet<&str> = s.resources.iter().map(|r| r.url.as_str()).collect();
            assert_eq!(
                urls.len(),
                s.resources.len(),
                "{}/{}: duplicate resource",
                g.slug,
                s.slug
            );
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
