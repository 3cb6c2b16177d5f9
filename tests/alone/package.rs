//! What `sam deploy` would upload is what was built and checked here: `make package` (run by
//! `make test`'s `make deploy-check` before this test) runs `sam build`, whose cargo-lambda
//! builder cross-builds `target/lambda/rota/bootstrap` for the template's default architecture
//! and copies it into the directory every function's `CodeUri` in `.aws-sam/build/template.yaml`
//! names; this test holds the artifact, SAM's copy and the template together. It fails, never skips, when the artifact is missing
//! or older than the sources.
//!
//! A test binary of its own so that `cargo test` of the suite does not need a release build:
//! `make package && cargo test -p rota-tests --test package`.

use rota_local::template::template_json;
use rota_tests::repo_root;
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::SystemTime;

/// provided.al2023's glibc.
const MAX_GLIBC: (u32, u32) = (2, 34);
/// Lambda's limit for a function's unzipped code is 250 MB; ours is far below, and a jump is a
/// regression worth a look (the stripped binary is ~17-21 MB).
const MAX_BYTES: u64 = 40 * 1024 * 1024;

fn template() -> Value {
    let text = std::fs::read_to_string(repo_root().join("template.yaml")).expect("template.yaml");
    template_json(&text).expect("template.yaml parses")
}

fn artifact() -> PathBuf {
    let path = repo_root().join("target/lambda/rota/bootstrap");
    assert!(
        path.is_file(),
        "{} is missing: run `make package` first (make test does)",
        path.display()
    );
    path
}

fn readelf(args: &[&str], path: &Path) -> String {
    let out = Command::new("readelf")
        .args(args)
        .arg(path)
        .output()
        .expect("readelf runs");
    assert!(out.status.success(), "readelf {args:?} failed");
    String::from_utf8(out.stdout).unwrap()
}

fn newest_modification(dir: &Path) -> SystemTime {
    let mut newest = SystemTime::UNIX_EPOCH;
    for entry in std::fs::read_dir(dir).unwrap().flatten() {
        let path = entry.path();
        let name = entry.file_name();
        if name == "target" || name == "node_modules" || name.to_string_lossy().starts_with('.') {
            continue;
        }
        let modified = if path.is_dir() {
            newest_modification(&path)
        } else if path.extension().is_some_and(|e| e == "rs") || name == "Cargo.toml" {
            entry.metadata().unwrap().modified().unwrap()
        } else {
            continue;
        };
        newest = newest.max(modified);
    }
    newest
}

#[test]
fn every_function_deploys_the_one_artifact_make_package_builds() {
    let t = template();
    let globals = &t["Globals"]["Function"];
    assert_eq!(globals["Runtime"], "provided.al2023");
    assert_eq!(
        globals["CodeUri"], ".",
        "cargo-lambda builds from the workspace root"
    );
    let mut functions = 0;
    for (name, resource) in t["Resources"].as_object().unwrap() {
        if resource["Type"] != "AWS::Serverless::Function" {
            continue;
        }
        functions += 1;
        assert_eq!(
            resource["Metadata"]["BuildMethod"], "rust-cargolambda",
            "{name}"
        );
        assert_eq!(
            resource["Metadata"]["BuildProperties"]["Binary"], "rota",
            "{name}: `make package` builds the binary rota"
        );
        let props = &resource["Properties"];
        assert!(
            props.get("CodeUri").is_none() && props.get("Runtime").is_none(),
            "{name} overrides the CodeUri or Runtime every function shares"
        );
    }
    assert!(functions > 30, "only {functions} functions in the template");
}

#[test]
fn the_artifact_runs_on_the_templates_default_architecture() {
    let t = template();
    let arch = t["Parameters"]["Architecture"]["Default"].as_str().unwrap();
    assert_eq!(
        t["Globals"]["Function"]["Architectures"][0]["Ref"],
        "Architecture"
    );
    let want = match arch {
        "arm64" => "AArch64",
        "x86_64" => "Advanced Micro Devices X86-64",
        other => panic!("unknown architecture {other}"),
    };
    let path = artifact();
    let header = readelf(&["-h"], &path);
    let machine = header
        .lines()
        .find_map(|l| l.trim().strip_prefix("Machine:"))
        .unwrap()
        .trim();
    assert_eq!(
        machine, want,
        "the artifact is not built for {arch} (make package ARCH=...)"
    );
}

#[test]
fn the_artifact_needs_nothing_amazon_linux_2023_lacks() {
    let path = artifact();
    let symbols = readelf(&["--dyn-syms", "--wide"], &path);
    let versions: Vec<(u32, u32)> = symbols
        .split("GLIBC_")
        .skip(1)
        .filter_map(|rest| {
            let v: String = rest
                .chars()
                .take_while(|c| c.is_ascii_digit() || *c == '.')
                .collect();
            let mut parts = v.split('.').map(|p| p.parse::<u32>().ok());
            Some((parts.next()??, parts.next().flatten().unwrap_or(0)))
        })
        .collect();
    assert!(!versions.is_empty(), "no glibc symbol versions found");
    let newest = versions.iter().max().unwrap();
    assert!(
        *newest <= MAX_GLIBC,
        "needs GLIBC_{}.{}, provided.al2023 has 2.34",
        newest.0,
        newest.1
    );
    let dynamic = readelf(&["-d"], &path);
    for lib in dynamic.lines().filter_map(|l| {
        l.split_once("Shared library: [")
            .map(|(_, r)| r.trim_end_matches(']'))
    }) {
        let ok = [
            "libc.so",
            "libm.so",
            "libdl.so",
            "libpthread.so",
            "librt.so",
            "libgcc_s.so",
            "ld-linux-",
        ]
        .iter()
        .any(|p| lib.starts_with(p));
        assert!(ok, "needs {lib}, which provided.al2023 may not have");
    }
}

#[test]
fn the_artifact_is_stripped_small_and_current() {
    let path = artifact();
    let meta = std::fs::metadata(&path).unwrap();
    assert!(
        meta.len() < MAX_BYTES,
        "{} bytes (limit {MAX_BYTES})",
        meta.len()
    );
    let sections = readelf(&["-S", "--wide"], &path);
    assert!(
        !sections.contains(".debug_info") && !sections.contains(".symtab"),
        "the artifact carries debug info or a symbol table (make package strips them)"
    );
    let built = meta.modified().unwrap();
    let sources = newest_modification(&repo_root());
    assert!(
        built >= sources,
        "the artifact is older than the sources: run `make package` again"
    );
}

#[test]
fn sam_build_gives_every_function_the_artifact() {
    let dir = repo_root().join(".aws-sam/build");
    let text = std::fs::read_to_string(dir.join("template.yaml"))
        .expect(".aws-sam/build/template.yaml: run `make package` (sam build) first");
    let built = template_json(&text).expect("SAM's template parses");
    let artifact = std::fs::read(artifact()).unwrap();
    let mut functions = 0;
    for (name, resource) in built["Resources"].as_object().unwrap() {
        if resource["Type"] != "AWS::Serverless::Function" {
            continue;
        }
        functions += 1;
        let code = resource["Properties"]["CodeUri"]
            .as_str()
            .unwrap_or_else(|| panic!("{name}: no CodeUri in SAM's template"));
        let bootstrap = dir.join(code).join("bootstrap");
        let copy =
            std::fs::read(&bootstrap).unwrap_or_else(|e| panic!("{}: {e}", bootstrap.display()));
        assert!(
            copy == artifact,
            "{} is not target/lambda/rota/bootstrap: run `make package` again",
            bootstrap.display()
        );
    }
    let declared = template()["Resources"]
        .as_object()
        .unwrap()
        .values()
        .filter(|r| r["Type"] == "AWS::Serverless::Function")
        .count();
    assert_eq!(
        functions, declared,
        "SAM built another template's functions"
    );
}
