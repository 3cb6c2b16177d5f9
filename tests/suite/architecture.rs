//! The architecture holds by construction where the compiler can hold it (crates cannot import
//! each other in a circle), and by these checks where it cannot: the lower crates keep out of
//! HTTP, Redis and Lambda, and no two modules of a crate import each other, even through
//! others (docs/architecture.md).

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use rota_tests::repo_root;

/// The crates whose module graphs are checked.
const CRATES: [&str; 8] = [
    "shared/domain/src",
    "shared/store/src",
    "shared/lambda/src",
    "shared/api/src",
    "shared/roadmap/src",
    "local/src",
    "bench/src",
    "admin/src",
];

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())) {
        let path = entry.unwrap().path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The source without comments and without its unit-test module (tests may use anything).
fn code(text: &str) -> String {
    let text = match text.find("#[cfg(test)]\nmod tests") {
        Some(at) => &text[..at],
        None => text,
    };
    text.lines()
        .map(|line| match line.find("//") {
            Some(at) => &line[..at],
            None => line,
        })
        .collect::<Vec<_>>()
        .join("\n")
}

fn identifier(s: &str) -> &str {
    let end = s
        .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .unwrap_or(s.len());
    &s[..end]
}

/// The crate's top-level modules that `code` names after each `prefix` (`crate::x`,
/// `crate::{x, y::z}`).
fn references(code: &str, prefix: &str, modules: &BTreeSet<String>, out: &mut BTreeSet<String>) {
    for (at, _) in code.match_indices(prefix) {
        let rest = &code[at + prefix.len()..];
        let names: Vec<&str> = if let Some(group) = rest.strip_prefix('{') {
            let group = &group[..group.find('}').unwrap_or(group.len())];
            group.split(',').map(|p| identifier(p.trim())).collect()
        } else {
            vec![identifier(rest)]
        };
        out.extend(
            names
                .into_iter()
                .filter(|n| modules.contains(*n))
                .map(str::to_owned),
        );
    }
}

/// Top-level module → the top-level modules it refers to.
fn module_graph(src: &Path) -> BTreeMap<String, BTreeSet<String>> {
    let mut files = Vec::new();
    rust_files(src, &mut files);
    let top = |file: &Path| -> Option<String> {
        let rel = file.strip_prefix(src).unwrap();
        let first = rel.components().next()?.as_os_str().to_str()?.to_owned();
        let name = first.trim_end_matches(".rs").to_owned();
        (name != "lib" && name != "main" && name != "bin").then_some(name)
    };
    let modules: BTreeSet<String> = files.iter().filter_map(|f| top(f)).collect();
    let mut graph = BTreeMap::new();
    for file in &files {
        let Some(module) = top(file) else { continue };
        let code = code(&std::fs::read_to_string(file).unwrap());
        let mut refs = BTreeSet::new();
        references(&code, "crate::", &modules, &mut refs);
        // In a top-level module's own file, `super::` is the crate root.
        if file.parent() == Some(src) {
            references(&code, "super::", &modules, &mut refs);
        }
        refs.remove(&module);
        graph
            .entry(module)
            .or_insert_with(BTreeSet::new)
            .extend(refs);
    }
    graph
}

/// A cycle through the graph, if there is one.
fn find_cycle(graph: &BTreeMap<String, BTreeSet<String>>) -> Option<Vec<String>> {
    fn visit(
        node: &str,
        graph: &BTreeMap<String, BTreeSet<String>>,
        path: &mut Vec<String>,
        done: &mut BTreeSet<String>,
    ) -> Option<Vec<String>> {
        if let Some(at) = path.iter().position(|n| n == node) {
            let mut cycle = path[at..].to_vec();
            cycle.push(node.to_owned());
            return Some(cycle);
        }
        if done.contains(node) {
            return None;
        }
        path.push(node.to_owned());
        for next in graph.get(node).into_iter().flatten() {
            if let Some(cycle) = visit(next, graph, path, done) {
                return Some(cycle);
            }
        }
        path.pop();
        done.insert(node.to_owned());
        None
    }
    let mut done = BTreeSet::new();
    graph
        .keys()
        .find_map(|node| visit(node, graph, &mut Vec::new(), &mut done))
}

#[test]
fn no_two_modules_of_a_crate_import_each_other() {
    for dir in CRATES {
        let graph = module_graph(&repo_root().join(dir));
        assert!(graph.len() > 1 || dir.contains("bench"), "{dir}: {graph:?}");
        if let Some(cycle) = find_cycle(&graph) {
            panic!("{dir}: module cycle {}", cycle.join(" → "));
        }
    }
}

#[test]
fn the_cycle_check_finds_a_cycle_when_there_is_one() {
    let graph: BTreeMap<String, BTreeSet<String>> = [
        ("app", &["stats"][..]),
        ("stats", &["store"][..]),
        ("store", &["app"][..]),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.iter().map(|s| s.to_string()).collect()))
    .collect();
    assert_eq!(
        find_cycle(&graph).unwrap(),
        ["app", "stats", "store", "app"]
    );
    let modules: BTreeSet<String> = ["app", "store", "http"].map(String::from).into();
    let mut refs = BTreeSet::new();
    references(
        &code("use crate::{app::App, store::{x, y}};\n// crate::http\n"),
        "crate::",
        &modules,
        &mut refs,
    );
    assert_eq!(refs, ["app", "store"].map(String::from).into());
}

/// The names under `[dependencies]` of a crate's manifest.
fn dependencies(manifest: &str) -> BTreeSet<String> {
    let text = std::fs::read_to_string(repo_root().join(manifest)).unwrap();
    let mut in_deps = false;
    let mut deps = BTreeSet::new();
    for line in text.lines() {
        let line = line.trim();
        if line.starts_with('[') {
            in_deps = line == "[dependencies]";
        } else if in_deps && !line.is_empty() && !line.starts_with('#') {
            let name = line.split(['=', '.', ' ']).next().unwrap_or_default();
            deps.insert(name.to_owned());
        }
    }
    deps
}

#[test]
fn the_domain_and_the_data_layer_know_nothing_of_http_redis_or_lambda() {
    let edge = [
        "http",
        "lambda_http",
        "lambda_runtime",
        "redis",
        "rota-api",
        "rota-lambda",
        "jsonwebtoken",
    ];
    for manifest in ["shared/domain/Cargo.toml", "shared/store/Cargo.toml"] {
        let deps = dependencies(manifest);
        assert!(!deps.is_empty(), "{manifest}");
        for name in edge {
            assert!(!deps.contains(name), "{manifest} depends on {name}");
        }
    }
    let domain = dependencies("shared/domain/Cargo.toml");
    for io in ["aws-sdk-dynamodb", "aws-config", "tokio", "rota-store"] {
        assert!(!domain.contains(io), "rota-domain depends on {io}");
    }
    // The Lambda runtime crate knows no HTTP API and no data layer.
    let lambda = dependencies("shared/lambda/Cargo.toml");
    for name in ["lambda_http", "http", "rota-store", "rota-api", "redis"] {
        assert!(!lambda.contains(name), "rota-lambda depends on {name}");
    }
}
