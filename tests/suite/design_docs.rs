//! docs/architecture.md, docs/data-model.md and docs/operations.md against what they describe:
//! every name, path, command, count and key they cite must still be in the code or the
//! template. No stack, no network: the documents are read with a Markdown parser, the sources
//! as text, the template with the local stack's parser.
//!
//! The rules (a failure names the document, what it cites and the rule):
//! - a path in backticks (`shared/api/src/x.rs`, `tests/suite/`) exists; a bare file name
//!   (`likes.rs`) or relative path (`auth/`) ends some path of the repository, and in a table
//!   whose header names a directory, exists in that directory; a relative link exists;
//!   a `#fragment` names a heading;
//! - a Rust path (`rota_api::runtime::invoke`, `handlers::likes::LikePost`,
//!   `StoreError::Conflict`), in backticks or in a diagram, resolves in the workspace's sources
//!   (module files, then the item or variant); a generic (`Path<PostId>`) is a generic type of
//!   the workspace or one it imports; every line of a `rust` block is a line of the sources;
//! - a `SCREAMING_CASE` name is a constant of the workspace or an environment variable the code
//!   or the template reads; a test named in backticks (four words or more) is a function of
//!   the workspace; `mod x` is a module of it; a `rota-*` crate is a package of the workspace;
//! - `make <target>` is a Makefile target; `rota-admin <command>` (in the documents and the
//!   template's comments) a command rota-admin parses;
//! - a template resource, parameter or condition named in backticks exists; the parameters
//!   table's defaults, the alarms table, the CORS headers, the roles the template writes itself,
//!   the activity grant's attributes, the indexes table and every count the documents state
//!   about the template or the store (indexes, functions, routes, receives, shards, ...)
//!   equal the template's and the code's;
//! - every DynamoDB key prefix the data model's tables cite is built by the code, and every
//!   one the code builds is in them; every Redis key the code builds is in the data model's
//!   Redis table, and every key of that table is built by the code;
//! - `rota-api` sends no DynamoDB request itself (the crate table: data access is rota-store's).

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use pulldown_cmark::{CodeBlockKind, Event, Options, Parser, Tag, TagEnd};
use regex::Regex;
use rota_local::template::template_json;
use rota_tests::repo_root;
use serde_json::Value;

const DOCS: [&str; 3] = [
    "docs/architecture.md",
    "docs/data-model.md",
    "docs/operations.md",
];

// ---------------------------------------------------------------------------------------------
// The documents, parsed
// ---------------------------------------------------------------------------------------------

#[derive(Default, Clone)]
struct Cell {
    text: String,
    spans: Vec<String>,
}

#[derive(Default)]
struct Table {
    header: Vec<Cell>,
    rows: Vec<Vec<Cell>>,
}

#[derive(Default)]
struct Section {
    heading: String,
    text: String,
    spans: Vec<String>,
}

#[derive(Default)]
struct Doc {
    name: &'static str,
    /// Inline code spans, in order.
    spans: Vec<String>,
    /// Fenced blocks: (language, text).
    blocks: Vec<(String, String)>,
    links: Vec<String>,
    tables: Vec<Table>,
    anchors: BTreeSet<String>,
    /// The text and spans under each heading, up to the next one (the first has no heading).
    sections: Vec<Section>,
}

impl Doc {
    fn load(name: &'static str) -> Doc {
        let text = std::fs::read_to_string(repo_root().join(name)).expect(name);
        Doc::parse(name, &text)
    }

    fn parse(name: &'static str, text: &str) -> Doc {
        let mut doc = Doc {
            name,
            sections: vec![Section::default()],
            ..Doc::default()
        };
        let mut heading: Option<String> = None;
        let mut block: Option<(String, String)> = None;
        let mut table: Option<Table> = None;
        let mut row: Vec<Cell> = Vec::new();
        let mut cell: Option<Cell> = None;
        for event in Parser::new_ext(text, Options::ENABLE_TABLES) {
            match event {
                Event::Start(Tag::Heading { .. }) => heading = Some(String::new()),
                Event::End(TagEnd::Heading(_)) => {
                    let h = heading.take().unwrap_or_default();
                    doc.anchors.insert(slug(&h));
                    doc.sections.push(Section {
                        heading: h,
                        ..Section::default()
                    });
                }
                Event::Start(Tag::CodeBlock(kind)) => {
                    let lang = match kind {
                        CodeBlockKind::Fenced(lang) => lang.to_string(),
                        CodeBlockKind::Indented => String::new(),
                    };
                    block = Some((lang, String::new()));
                }
                Event::End(TagEnd::CodeBlock) => doc.blocks.extend(block.take()),
                Event::Start(Tag::Link { dest_url, .. }) => doc.links.push(dest_url.to_string()),
                Event::Start(Tag::Table(_)) => table = Some(Table::default()),
                Event::End(TagEnd::Table) => doc.tables.extend(table.take()),
                Event::Start(Tag::TableCell) => cell = Some(Cell::default()),
                Event::End(TagEnd::TableCell) => row.extend(cell.take()),
                Event::End(TagEnd::TableHead) => {
                    if let Some(t) = table.as_mut() {
                        t.header = std::mem::take(&mut row);
                    }
                }
                Event::End(TagEnd::TableRow) => {
                    if let Some(t) = table.as_mut() {
                        t.rows.push(std::mem::take(&mut row));
                    }
                }
                Event::Code(code) => {
                    // A `|` inside a table's code span is written `\|`.
                    let code = code.replace("\\|", "|");
                    if let Some(h) = heading.as_mut() {
                        h.push_str(&code);
                    }
                    if let Some(c) = cell.as_mut() {
                        c.text.push_str(&code);
                        c.spans.push(code.clone());
                    }
                    let section = doc.sections.last_mut().unwrap();
                    section.text.push_str(&code);
                    section.spans.push(code.clone());
                    doc.spans.push(code);
                }
                Event::Text(t) => {
                    if let Some((_, b)) = block.as_mut() {
                        b.push_str(&t);
                        continue;
                    }
                    if let Some(h) = heading.as_mut() {
                        h.push_str(&t);
                    }
                    if let Some(c) = cell.as_mut() {
                        c.text.push_str(&t);
                    }
                    doc.sections.last_mut().unwrap().text.push_str(&t);
                }
                Event::SoftBreak | Event::HardBreak => {
                    doc.sections.last_mut().unwrap().text.push(' ');
                }
                _ => {}
            }
        }
        doc
    }

    /// Every code span and every line of every fenced block: where code is cited.
    fn code_texts(&self) -> impl Iterator<Item = &str> {
        self.spans
            .iter()
            .map(String::as_str)
            .chain(self.blocks.iter().flat_map(|(_, b)| b.lines()))
    }

    fn section(&self, heading: &str) -> &Section {
        self.sections
            .iter()
            .find(|s| s.heading == heading)
            .unwrap_or_else(|| panic!("{}: no section {heading:?}", self.name))
    }

    /// The table whose header starts with these cells.
    fn table(&self, header: &[&str]) -> &Table {
        self.tables
            .iter()
            .find(|t| {
                t.header.len() >= header.len()
                    && header
                        .iter()
                        .zip(&t.header)
                        .all(|(h, c)| c.text.trim() == *h)
            })
            .unwrap_or_else(|| panic!("{}: no table with the header {header:?}", self.name))
    }
}

/// GitHub's anchor of a heading.
fn slug(heading: &str) -> String {
    heading
        .trim()
        .to_lowercase()
        .chars()
        .filter(|c| c.is_alphanumeric() || matches!(c, ' ' | '-' | '_'))
        .map(|c| if c == ' ' { '-' } else { c })
        .collect()
}

fn docs() -> &'static [Doc] {
    static DOCS_PARSED: OnceLock<Vec<Doc>> = OnceLock::new();
    DOCS_PARSED.get_or_init(|| DOCS.iter().map(|d| Doc::load(d)).collect())
}

fn doc(name: &str) -> &'static Doc {
    docs().iter().find(|d| d.name == name).unwrap()
}

// ---------------------------------------------------------------------------------------------
// The repository and its sources, as text
// ---------------------------------------------------------------------------------------------

struct Source {
    path: String,
    text: String,
    /// The items it defines (and the modules it declares), by name.
    defs: BTreeSet<String>,
    /// The generic types it defines (`struct Name<`).
    generics: BTreeSet<String>,
}

impl Source {
    fn new(path: String, text: String) -> Source {
        static ITEM: OnceLock<[Regex; 3]> = OnceLock::new();
        let [item, generic, by_macro] = ITEM.get_or_init(|| {
            [
                re(r"\b(?:struct|enum|trait|type|fn|const|static|mod|union)\s+([A-Za-z_][A-Za-z0-9_]*)|macro_rules!\s*([A-Za-z_][A-Za-z0-9_]*)"),
                re(r"\b(?:struct|enum|trait|type)\s+([A-Za-z_][A-Za-z0-9_]*)<"),
                // Types a macro invocation declares, one a line (`typed_ids! { PostId(i64); }`).
                re(r"(?ms)^[a-z_]+!\s*\{(.*?)^\}"),
            ]
        });
        let mut defs: BTreeSet<String> = item
            .captures_iter(&text)
            .filter_map(|c| c.get(1).or(c.get(2)))
            .map(|m| m.as_str().to_string())
            .collect();
        let declared = re(r"(?m)^\s*([A-Z][A-Za-z0-9]*)\s*[({;,]");
        for body in by_macro.captures_iter(&text) {
            defs.extend(declared.captures_iter(&body[1]).map(|c| c[1].to_string()));
        }
        let generics = generic
            .captures_iter(&text)
            .map(|c| c[1].to_string())
            .collect();
        Source {
            path,
            text,
            defs,
            generics,
        }
    }
}

struct Repo {
    /// Every file and directory of the repository (relative, `/`-separated, directories
    /// without a trailing slash), build and tool output left out.
    paths: BTreeSet<String>,
    /// Every `.rs` file of the workspace.
    sources: Vec<Source>,
    /// Workspace crates: the name as Rust writes it → the crate root file.
    crates: BTreeMap<String, String>,
    packages: BTreeSet<String>,
    /// Every package of Cargo.lock, as Rust writes its name (external crates included).
    locked: BTreeSet<String>,
    /// Every name some `use` of the workspace imports.
    imported: BTreeSet<String>,
    /// Makefile targets.
    targets: BTreeSet<String>,
}

const SKIPPED_DIRS: [&str; 7] = [
    ".git",
    "target",
    ".local",
    ".venv",
    "node_modules",
    "__pycache__",
    ".pytest_cache",
];

fn walk(root: &Path, dir: &Path, out: &mut BTreeSet<String>) {
    for entry in std::fs::read_dir(dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())) {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().to_string();
        if SKIPPED_DIRS.contains(&name.as_str()) {
            continue;
        }
        let rel = path
            .strip_prefix(root)
            .unwrap()
            .to_string_lossy()
            .replace('\\', "/");
        out.insert(rel);
        if path.is_dir() {
            walk(root, &path, out);
        }
    }
}

fn repo() -> &'static Repo {
    static REPO: OnceLock<Repo> = OnceLock::new();
    REPO.get_or_init(|| {
        let root = repo_root().canonicalize().unwrap();
        let mut paths = BTreeSet::new();
        walk(&root, &root, &mut paths);
        let read = |p: &str| std::fs::read_to_string(root.join(p)).unwrap_or_default();
        let sources: Vec<Source> = paths
            .iter()
            .filter(|p| p.ends_with(".rs"))
            .map(|p| Source::new(p.clone(), read(p)))
            .collect();
        let name_re = Regex::new(r#"(?m)^name\s*=\s*"([^"]+)""#).unwrap();
        let lib_re = Regex::new(r#"(?ms)^\[lib\][^\[]*?^path\s*=\s*"([^"]+)""#).unwrap();
        let mut crates = BTreeMap::new();
        let mut packages = BTreeSet::new();
        for manifest in paths.iter().filter(|p| p.ends_with("/Cargo.toml")) {
            let text = read(manifest);
            let Some(name) = name_re.captures(&text).map(|c| c[1].to_string()) else {
                continue;
            };
            let dir = manifest.trim_end_matches("Cargo.toml");
            let lib = lib_re
                .captures(&text)
                .map(|c| format!("{dir}{}", &c[1]))
                .unwrap_or_else(|| format!("{dir}src/lib.rs"));
            let root_file = if paths.contains(&lib) {
                lib
            } else {
                format!("{dir}src/main.rs")
            };
            crates.insert(name.replace('-', "_"), root_file);
            packages.insert(name);
        }
        let locked = name_re
            .captures_iter(&read("Cargo.lock"))
            .map(|c| c[1].replace('-', "_"))
            .collect();
        // `use` items only (a line of their own), not the word in a comment.
        let use_re = Regex::new(r"(?ms)^\s*(?:pub(?:\([a-z]+\))?\s+)?use\s+[^;]*;").unwrap();
        let word_re = Regex::new(r"\b[A-Za-z_][A-Za-z0-9_]*\b").unwrap();
        // And the standard library's prelude.
        let mut imported: BTreeSet<String> = ["Option", "Result", "Vec", "Box", "String"]
            .map(String::from)
            .into();
        for s in &sources {
            for u in use_re.find_iter(&s.text) {
                imported.extend(
                    word_re
                        .find_iter(u.as_str())
                        .map(|w| w.as_str().to_string()),
                );
            }
        }
        let target_re =
            Regex::new(r"(?m)^([A-Za-z0-9_.-]+(?:[ \t]+[A-Za-z0-9_.-]+)*)[ \t]*:(?:[^=]|$)")
                .unwrap();
        let targets = target_re
            .captures_iter(&read("Makefile"))
            .flat_map(|c| {
                c[1].split_whitespace()
                    .map(str::to_string)
                    .collect::<Vec<_>>()
            })
            .collect();
        Repo {
            paths,
            sources,
            crates,
            packages,
            locked,
            imported,
            targets,
        }
    })
}

/// A source without its comments and its unit-test module (as tests/suite/architecture.rs
/// reads one): the code that runs.
fn code_of(text: &str) -> String {
    let text = match text.find("#[cfg(test)]\nmod tests") {
        Some(at) => &text[..at],
        None => text,
    };
    text.lines()
        .filter(|l| !l.trim_start().starts_with("//"))
        .collect::<Vec<_>>()
        .join("\n")
}

impl Source {
    /// The code that runs: none for a file that is itself a test module (`#[cfg(test)] mod
    /// testing;`, `item_tests.rs`, `proptests/`), else [`code_of`] its text.
    fn code(&self) -> String {
        let file = self.path.rsplit('/').next().unwrap_or_default();
        let test_only = ["tests.rs", "testing.rs"].contains(&file)
            || file.ends_with("_tests.rs")
            || self.path.contains("/proptests/");
        if test_only {
            String::new()
        } else {
            code_of(&self.text)
        }
    }
}

impl Repo {
    fn source(&self, path: &str) -> Option<&Source> {
        self.sources.iter().find(|s| s.path == path)
    }

    fn sources_under<'a>(&'a self, dirs: &'a [&str]) -> impl Iterator<Item = &'a Source> + 'a {
        self.sources
            .iter()
            .filter(move |s| dirs.iter().any(|d| s.path.starts_with(d)))
    }

    /// `name` is re-exported by a `pub use` of `text`.
    fn reexports(text: &str, name: &str) -> bool {
        re(r"(?s)\bpub use\s+[^;]*;")
            .find_iter(text)
            .any(|u| Self::names(u.as_str(), name))
    }

    fn defined_anywhere(&self, name: &str) -> bool {
        self.sources.iter().any(|s| s.defs.contains(name))
    }

    fn generic_anywhere(&self, name: &str) -> bool {
        self.sources.iter().any(|s| s.generics.contains(name))
    }

    /// The files of module `name` (`name.rs`, `name/mod.rs`) anywhere in the workspace.
    fn module_files(&self, name: &str) -> Vec<&str> {
        let file = format!("/{name}.rs");
        let dir = format!("/{name}/mod.rs");
        self.sources
            .iter()
            .map(|s| s.path.as_str())
            .filter(|p| p.ends_with(&file) || p.ends_with(&dir))
            .collect()
    }

    /// Where the child modules of the module in `file` live.
    fn children_dir(file: &str) -> String {
        let (dir, stem) = file.rsplit_once('/').unwrap_or(("", file));
        let stem = stem.trim_end_matches(".rs");
        if matches!(stem, "mod" | "lib" | "main") {
            format!("{dir}/")
        } else {
            format!("{dir}/{stem}/")
        }
    }

    /// `rest` resolves from the module whose file is `file`.
    fn resolve_in(&self, file: &str, rest: &[&str]) -> bool {
        let Some((first, more)) = rest.split_first() else {
            return true;
        };
        let Some(source) = self.source(file) else {
            return false;
        };
        let dir = Self::children_dir(file);
        for child in [format!("{dir}{first}.rs"), format!("{dir}{first}/mod.rs")] {
            if self.source(&child).is_some() && self.resolve_in(&child, more) {
                return true;
            }
        }
        match more {
            [] => source.defs.contains(*first) || Self::reexports(&source.text, first),
            // A type's variant or associated item: named in the type's file.
            [member] if source.defs.contains(*first) => Self::names(&source.text, member),
            _ => false,
        }
    }

    /// A Rust path cited by a document names something of the workspace (or of a crate it
    /// depends on, which is not checked).
    fn resolves(&self, path: &str) -> bool {
        let segments: Vec<&str> = path.split("::").collect();
        let first = segments[0];
        if matches!(first, "Self" | "self" | "crate" | "super" | "std" | "core") {
            return true;
        }
        if let Some(root) = self.crates.get(first) {
            return self.resolve_in(root, &segments[1..]);
        }
        let is_module = !self.module_files(first).is_empty();
        let is_item = self.defined_anywhere(first);
        if !is_module && !is_item && self.locked.contains(first) {
            return true; // an external crate
        }
        // A path relative to some module of the workspace, or a type's member.
        self.module_files(first)
            .into_iter()
            .any(|f| self.resolve_in(f, &segments[1..]))
            || (segments.len() == 2
                && self
                    .sources
                    .iter()
                    .any(|s| s.defs.contains(first) && Self::names(&s.text, segments[1])))
    }

    /// `word` occurs in `text` as a whole word.
    fn names(text: &str, word: &str) -> bool {
        re(&format!(r"\b{}\b", regex::escape(word))).is_match(text)
    }
}

// ---------------------------------------------------------------------------------------------
// The template
// ---------------------------------------------------------------------------------------------

fn template_text() -> &'static str {
    static TEXT: OnceLock<String> = OnceLock::new();
    TEXT.get_or_init(|| std::fs::read_to_string(repo_root().join("template.yaml")).unwrap())
}

fn template() -> &'static Value {
    static TEMPLATE: OnceLock<Value> = OnceLock::new();
    TEMPLATE.get_or_init(|| template_json(template_text()).expect("template.yaml parses"))
}

fn resources() -> impl Iterator<Item = (&'static String, &'static Value)> {
    template()["Resources"].as_object().into_iter().flatten()
}

fn of_type(kind: &'static str) -> impl Iterator<Item = (&'static String, &'static Value)> {
    resources().filter(move |(_, r)| r["Type"] == kind)
}

fn functions() -> impl Iterator<Item = (&'static String, &'static Value)> {
    of_type("AWS::Serverless::Function")
}

/// `v` and everything inside it.
fn all_values(v: &Value) -> Vec<&Value> {
    let mut out = vec![v];
    match v {
        Value::Array(a) => a.iter().for_each(|x| out.extend(all_values(x))),
        Value::Object(m) => m.values().for_each(|x| out.extend(all_values(x))),
        _ => {}
    }
    out
}

/// The policy statements of a function (inline `Policies`, or its own role's).
fn statements(function: &'static Value) -> Vec<&'static Value> {
    let policies = match function["Properties"]["Role"]["Fn::GetAtt"][0].as_str() {
        Some(role) => &template()["Resources"][role]["Properties"]["Policies"],
        None => &function["Properties"]["Policies"],
    };
    all_values(policies)
        .into_iter()
        .filter(|v| v.get("Effect").is_some())
        .collect()
}

fn actions(statement: &Value) -> Vec<&str> {
    match &statement["Action"] {
        Value::String(s) => vec![s.as_str()],
        Value::Array(a) => a.iter().filter_map(Value::as_str).collect(),
        _ => vec![],
    }
}

fn attributes(statement: &Value) -> Vec<&str> {
    statement["Condition"]["ForAllValues:StringEquals"]["dynamodb:Attributes"]
        .as_array()
        .map(|a| a.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default()
}

fn has_redis(function: &Value) -> bool {
    function["Properties"]["Environment"]["Variables"]
        .get("REDIS_URL")
        .is_some()
}

fn gsis() -> &'static Vec<Value> {
    template()["Resources"]["RotaTable"]["Properties"]["GlobalSecondaryIndexes"]
        .as_array()
        .expect("RotaTable's GlobalSecondaryIndexes")
}

/// Every environment variable the template sets.
fn template_env() -> BTreeSet<String> {
    let mut names: BTreeSet<String> = template()["Globals"]["Function"]["Environment"]["Variables"]
        .as_object()
        .into_iter()
        .flatten()
        .map(|(k, _)| k.clone())
        .collect();
    for (_, f) in functions() {
        names.extend(
            f["Properties"]["Environment"]["Variables"]
                .as_object()
                .into_iter()
                .flatten()
                .map(|(k, _)| k.clone()),
        );
    }
    names
}

/// The template's comments (what follows a `#` that starts a YAML comment).
fn template_comments() -> Vec<&'static str> {
    template_text()
        .lines()
        .filter_map(|line| {
            let t = line.trim_start();
            if t.starts_with('#') {
                return Some(t);
            }
            line.find(" # ").map(|at| &line[at..])
        })
        .collect()
}

// ---------------------------------------------------------------------------------------------
// Failures are collected and reported together: one run lists every drift.
// ---------------------------------------------------------------------------------------------

#[derive(Default)]
struct Drift(Vec<String>);

impl Drift {
    fn check(&mut self, ok: bool, what: impl FnOnce() -> String) {
        if !ok {
            self.0.push(what());
        }
    }

    /// `check` for each of `items`.
    fn each<T>(
        &mut self,
        items: impl IntoIterator<Item = T>,
        ok: impl Fn(&T) -> bool,
        why: impl Fn(&T) -> String,
    ) {
        for item in items {
            self.check(ok(&item), || why(&item));
        }
    }

    fn assert_none(self, rule: &str) {
        assert!(
            self.0.is_empty(),
            "{rule}:\n  {}\n(fix the document, or the test if the rule itself changed)",
            self.0.join("\n  ")
        );
    }
}

fn re(pattern: &str) -> Regex {
    Regex::new(pattern).unwrap()
}

/// One rule over what the documents cite as code: `find` picks the citations out of each code
/// span and each line of a fenced block, and every one must pass `ok`. A rule that finds fewer
/// than `at_least` checks (nearly) nothing, and fails too.
fn check_citations(
    rule: &str,
    at_least: usize,
    find: impl Fn(&str) -> Vec<String>,
    ok: impl Fn(&str) -> bool,
) {
    let mut drift = Drift::default();
    let mut found = 0;
    for d in docs() {
        for citation in d.code_texts().flat_map(&find) {
            found += 1;
            drift.check(ok(&citation), || format!("{}: `{citation}`", d.name));
        }
    }
    assert!(found >= at_least, "{rule}: only {found} found");
    drift.assert_none(rule);
}

// ---------------------------------------------------------------------------------------------
// Paths and links
// ---------------------------------------------------------------------------------------------

const FILE_EXTENSIONS: [&str; 11] = [
    ".rs", ".md", ".py", ".sh", ".yaml", ".yml", ".toml", ".json", ".txt", ".js", ".html",
];

/// A code span that names a file or directory of the repository: a file name with an
/// extension, a directory (`auth/`), or a path from a top-level directory. Not a metric
/// namespace (`AWS/Lambda`), a KMS alias (`aws/ssm`), a URL or a runtime directory (`.local/`).
fn path_like(span: &str) -> bool {
    let first = span.split('/').next().unwrap();
    re(r"^[A-Za-z0-9_][A-Za-z0-9_./-]*$").is_match(span)
        && (FILE_EXTENSIONS.iter().any(|e| span.ends_with(e))
            || span.ends_with('/')
            || (span.contains('/') && repo().paths.contains(first)))
}

/// Some path of the repository is `path` or ends with `/path`.
fn exists_as_suffix(path: &str) -> bool {
    let path = path.trim_end_matches('/');
    let tail = format!("/{path}");
    repo().paths.iter().any(|p| p == path || p.ends_with(&tail))
}

#[test]
fn every_cited_path_exists() {
    let mut drift = Drift::default();
    let top: BTreeSet<&str> = repo()
        .paths
        .iter()
        .filter(|p| !p.contains('/'))
        .map(String::as_str)
        .collect();
    // Paths written in plain text: from a top-level directory, with an extension.
    let plain = re(r"\b(?:[a-z]+/)+[A-Za-z0-9_.-]+\.(?:rs|md|py|sh|yaml|yml|toml|json)\b");
    for d in docs() {
        let text = std::fs::read_to_string(repo_root().join(d.name)).unwrap();
        for m in plain.find_iter(&text) {
            let path = m.as_str();
            let first = path.split('/').next().unwrap();
            if top.contains(first) {
                drift.check(repo().paths.contains(path), || {
                    format!("{}: {path} is no file of the repository", d.name)
                });
            }
        }
        for span in d.spans.iter().filter(|s| path_like(s)) {
            let first = span.split('/').next().unwrap();
            let ok = if span.contains('/') && top.contains(first) {
                repo().paths.contains(span.trim_end_matches('/'))
            } else {
                exists_as_suffix(span)
            };
            drift.check(ok, || {
                format!("{}: `{span}` is no path of the repository", d.name)
            });
        }
    }
    drift.assert_none("paths the documents cite");
}

#[test]
fn files_in_a_table_under_a_directory_are_in_that_directory() {
    let mut drift = Drift::default();
    let mut checked = 0;
    for d in docs() {
        for table in &d.tables {
            for (col, head) in table.header.iter().enumerate() {
                let Some(dir) = head.spans.iter().find(|s| s.ends_with('/') && path_like(s)) else {
                    continue;
                };
                for row in &table.rows {
                    let Some(cell) = row.get(col) else { continue };
                    for span in cell.spans.iter().filter(|s| path_like(s)) {
                        let first = span.split('/').next().unwrap();
                        let path = if repo().paths.contains(first) && span.contains('/') {
                            span.clone()
                        } else {
                            format!("{dir}{span}")
                        };
                        checked += 1;
                        drift.check(repo().paths.contains(path.trim_end_matches('/')), || {
                            format!("{}: `{span}` is not in `{dir}` (table column)", d.name)
                        });
                    }
                }
            }
        }
    }
    assert!(
        checked > 20,
        "the resource table's files were not found ({checked})"
    );
    drift.assert_none("files of the tables with a directory column");
}

/// A line that starts with `|` and is no table's (a blank line cut the table above it) is
/// read by nobody, these checks included.
#[test]
fn every_table_line_is_in_a_table() {
    for d in docs() {
        let text = std::fs::read_to_string(repo_root().join(d.name)).unwrap();
        let mut in_block = false;
        let mut lines = 0;
        for line in text.lines() {
            if line.trim_start().starts_with("```") {
                in_block = !in_block;
            } else if !in_block && line.starts_with('|') {
                lines += 1;
            }
        }
        // Each table: its header, its delimiter row, its rows.
        let parsed: usize = d.tables.iter().map(|t| 2 + t.rows.len()).sum();
        assert_eq!(
            lines, parsed,
            "{}: a line starting with | outside a table",
            d.name
        );
    }
}

#[test]
fn every_link_and_anchor_resolves() {
    let mut drift = Drift::default();
    for d in docs() {
        let dir = Path::new(d.name).parent().unwrap();
        for link in &d.links {
            if link.contains("://") || link.starts_with("mailto:") {
                continue;
            }
            let (file, fragment) = match link.split_once('#') {
                Some((f, frag)) => (f, Some(frag)),
                None => (link.as_str(), None),
            };
            let target: PathBuf = if file.is_empty() {
                PathBuf::from(d.name)
            } else {
                normalize(&dir.join(file))
            };
            let target = target.to_string_lossy().replace('\\', "/");
            if !repo().paths.contains(&target) {
                drift.check(false, || format!("{}: link {link:?}: no {target}", d.name));
                continue;
            }
            if let Some(fragment) = fragment.filter(|_| target.ends_with(".md")) {
                let text = std::fs::read_to_string(repo_root().join(&target)).unwrap();
                let anchors = Doc::parse("linked", &text).anchors;
                drift.check(anchors.contains(fragment), || {
                    format!(
                        "{}: link {link:?}: no heading #{fragment} in {target}",
                        d.name
                    )
                });
            }
        }
    }
    drift.assert_none("links");
}

/// `a/b/../c` → `a/c` (without touching the file system).
fn normalize(path: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for part in path.components() {
        match part {
            std::path::Component::ParentDir => {
                out.pop();
            }
            std::path::Component::CurDir => {}
            other => out.push(other),
        }
    }
    out
}

// ---------------------------------------------------------------------------------------------
// Rust names
// ---------------------------------------------------------------------------------------------

fn rust_paths(text: &str) -> Vec<String> {
    static PATH: OnceLock<Regex> = OnceLock::new();
    PATH.get_or_init(|| re(r"\b[A-Za-z_][A-Za-z0-9_]*(?:::[A-Za-z_][A-Za-z0-9_]*)+"))
        .find_iter(text)
        .map(|m| m.as_str().to_string())
        // CloudFormation's own names (`AWS::IAM::Role`, `Fn::If`).
        .filter(|p| !p.starts_with("AWS::") && !p.starts_with("Fn::"))
        .collect()
}

#[test]
fn every_cited_rust_path_resolves() {
    check_citations(
        "Rust paths (module files, then the item or variant)",
        10,
        rust_paths,
        |path| repo().resolves(path),
    );
}

#[test]
fn every_cited_generic_is_a_generic_type() {
    let generic = re(r"\b([A-Z][A-Za-z0-9]*)<([^`<>]*(?:<[^`<>]*>)?[^`<>]*)>");
    let camel = re(r"\b[A-Z][A-Za-z0-9]+\b");
    let mut drift = Drift::default();
    let mut checked = 0;
    for d in docs() {
        for text in d.code_texts() {
            for c in generic.captures_iter(text) {
                let whole = c.get(0).unwrap();
                // `ApiLatency<Route>Alarm` is a pattern of names, not a type.
                if text[whole.end()..]
                    .chars()
                    .next()
                    .is_some_and(|ch| ch.is_alphanumeric())
                {
                    continue;
                }
                checked += 1;
                let name = &c[1];
                let ok = repo().generic_anywhere(name)
                    || (!repo().defined_anywhere(name) && repo().imported.contains(name));
                drift.check(ok, || {
                    format!(
                        "{}: `{}`: {name} is no generic type",
                        d.name,
                        whole.as_str()
                    )
                });
                for arg in camel.find_iter(&c[2]).map(|m| m.as_str()) {
                    let ok = arg == "Self"
                        || repo().defined_anywhere(arg)
                        || repo().imported.contains(arg);
                    drift.check(ok, || {
                        format!("{}: `{}`: {arg} names nothing", d.name, whole.as_str())
                    });
                }
            }
        }
    }
    assert!(checked > 3, "only {checked} generics found");
    drift.assert_none("generic types");
}

#[test]
fn every_line_of_a_rust_block_is_a_line_of_the_sources() {
    let squash = |s: &str| s.split_whitespace().collect::<Vec<_>>().join(" ");
    let lines: BTreeSet<String> = repo()
        .sources_under(&["shared/", "functions/"])
        .flat_map(|s| s.text.lines().map(squash).collect::<Vec<_>>())
        .collect();
    let mut drift = Drift::default();
    let mut checked = 0;
    for d in docs() {
        for (_, block) in d.blocks.iter().filter(|(lang, _)| lang == "rust") {
            for line in block.lines() {
                let line = squash(line.split("//").next().unwrap());
                if line.is_empty() || line.contains('…') || line.chars().all(|c| "{}".contains(c))
                {
                    continue;
                }
                checked += 1;
                drift.check(lines.iter().any(|l| l.contains(&line)), || {
                    format!("{}: `{line}` is in no source file", d.name)
                });
            }
        }
    }
    assert!(checked >= 3, "only {checked} lines of Rust found");
    drift.assert_none("lines of the Rust examples");
}

/// Every name of a workspace constant or of an environment variable the code or template reads.
#[test]
fn every_screaming_case_name_is_a_constant_or_a_variable_read() {
    let env = template_env();
    let name_re = re(r"^_?[A-Z][A-Z0-9]*(?:_[A-Z0-9]+)+$");
    check_citations(
        "constants and environment variables",
        10,
        |text| {
            let name = text.split(['=', ' ']).next().unwrap();
            name_re
                .is_match(name)
                .then(|| name.to_string())
                .into_iter()
                .collect()
        },
        |name| {
            env.contains(name)
                || repo().defined_anywhere(name)
                || repo()
                    .sources
                    .iter()
                    .any(|s| s.text.contains(&format!("\"{name}\"")))
        },
    );
}

#[test]
fn every_cited_test_module_and_crate_exists() {
    let test_name = re(r"^[a-z][a-z0-9]*(?:_[a-z0-9]+){3,}$");
    let module = re(r"^mod ([a-z_][a-z0-9_]*)$");
    let krate = re(r"^rota(?:-[a-z]+)+$");
    let mut drift = Drift::default();
    for d in docs() {
        for span in &d.spans {
            // `idx_…`: the owner's former SQL indexes, which the data model maps.
            if test_name.is_match(span) && !span.starts_with("idx_") {
                drift.check(repo().defined_anywhere(span), || {
                    format!("{}: `{span}` is no function or module", d.name)
                });
            } else if let Some(c) = module.captures(span) {
                drift.check(repo().defined_anywhere(&c[1]), || {
                    format!("{}: `{span}` is no module", d.name)
                });
            } else if krate.is_match(span) {
                drift.check(repo().packages.contains(span), || {
                    format!("{}: `{span}` is no package of the workspace", d.name)
                });
            }
        }
    }
    drift.assert_none("tests, modules and crates");
}

/// The crate graph of docs/architecture.md: every arrow is a dependency of the crate it
/// starts from, and every dependency between workspace crates is an arrow or a path of arrows.
#[test]
fn the_crate_graph_is_the_workspaces() {
    let arch = doc("docs/architecture.md");
    let (_, graph) = arch
        .blocks
        .iter()
        .find(|(lang, _)| lang == "mermaid")
        .expect("the crate graph");
    let node = re(r#"\b([A-Z]+)\["[^"]*?\b(rota(?:-[a-z]+)+)\b"#);
    let crate_of: BTreeMap<&str, &str> = node
        .captures_iter(graph)
        .map(|c| (c.get(1).unwrap().as_str(), c.get(2).unwrap().as_str()))
        .collect();
    let edge = re(r#"\b([A-Z]+)(?:\["[^"]*"\])?\s*-->\s*([A-Z]+)\b"#);
    let mut arrows: BTreeMap<&str, BTreeSet<&str>> = BTreeMap::new();
    let mut drift = Drift::default();
    for c in edge.captures_iter(graph) {
        let (from, to) = (c.get(1).unwrap().as_str(), c.get(2).unwrap().as_str());
        match (crate_of.get(from), crate_of.get(to)) {
            (Some(a), Some(b)) => {
                arrows.entry(a).or_default().insert(b);
            }
            _ => drift.check(false, || {
                format!("arrow {from} --> {to}: a node without a crate")
            }),
        }
    }
    assert!(
        arrows.len() > 5,
        "the graph's arrows were not found: {arrows:?}"
    );
    // Each workspace crate's normal dependencies on other workspace crates.
    let dependency = re(r"(?m)^(rota(?:-[a-z]+)+)\b");
    let section = re(r"(?ms)^\[dependencies\]\s*$(.*?)(?:^\[|\z)");
    for manifest in repo().paths.iter().filter(|p| p.ends_with("/Cargo.toml")) {
        let text = std::fs::read_to_string(repo_root().join(manifest)).unwrap();
        let Some(name) = re(r#"(?m)^name\s*=\s*"([^"]+)""#).captures(&text) else {
            continue;
        };
        let name = name[1].to_string();
        if !repo().packages.contains(&name) {
            continue;
        }
        let deps: BTreeSet<String> = section
            .captures(&text)
            .map(|c| {
                dependency
                    .captures_iter(&c[1])
                    .map(|d| d[1].to_string())
                    .collect()
            })
            .unwrap_or_default();
        let mut reachable = BTreeSet::new();
        let mut todo = vec![name.as_str()];
        while let Some(n) = todo.pop() {
            for next in arrows.get(n).into_iter().flatten() {
                if reachable.insert(*next) {
                    todo.push(next);
                }
            }
        }
        for dep in &deps {
            drift.check(reachable.contains(dep.as_str()), || {
                format!("{name} depends on {dep}, which the graph does not show")
            });
        }
        for to in arrows.get(name.as_str()).into_iter().flatten() {
            drift.check(deps.contains(*to), || {
                format!("the graph's arrow {name} --> {to} is no dependency of {manifest}")
            });
        }
    }
    drift.assert_none("docs/architecture.md's crate graph");
}

/// The documents' crate table says rota-api never knows item shapes: it builds no DynamoDB
/// request and moves no queue's messages itself (rota-store does).
#[test]
fn the_http_crate_sends_no_dynamodb_or_sqs_request() {
    let request = re(
        r"\.(get_item|put_item|update_item|delete_item|query|scan|batch_get_item|batch_write_item|transact_write_items|transact_get_items|receive_message|delete_message_batch|send_message|send_message_batch)\(\)",
    );
    let mut drift = Drift::default();
    for s in repo().sources_under(&["shared/api/src/"]) {
        for m in request.find_iter(&s.code()) {
            drift.check(false, || format!("{}: {}", s.path, m.as_str()));
        }
    }
    let table = doc("docs/architecture.md").table(&["crate", "knows", "never knows"]);
    let api = table
        .rows
        .iter()
        .find(|r| r[0].text == "rota-api")
        .expect("rota-api's row");
    assert!(
        api[2].text.contains("DynamoDB"),
        "the crate table no longer says what rota-api never knows: {}",
        api[2].text
    );
    drift.assert_none("DynamoDB and SQS requests outside rota-store");
}

// ---------------------------------------------------------------------------------------------
// Commands
// ---------------------------------------------------------------------------------------------

#[test]
fn every_make_target_exists() {
    let make = re(r"(?:^|[\s`(])make ([a-z][a-z0-9_-]*)");
    check_citations(
        "make targets",
        3,
        |text| make.captures_iter(text).map(|c| c[1].to_string()).collect(),
        |target| repo().targets.contains(target),
    );
}

/// rota-admin's commands: the literals its argument parsing matches (or a clap subcommand,
/// a type whose kebab-case name is the command).
fn admin_commands() -> BTreeSet<String> {
    let literal = re(r#""([a-z][a-z-]*)""#);
    let camel = re(r"\b[A-Z][a-z]+(?:[A-Z][a-z]+)*\b");
    let mut out = BTreeSet::new();
    for s in repo().sources_under(&["admin/src/"]) {
        let code = s.code();
        out.extend(literal.captures_iter(&code).map(|c| c[1].to_string()));
        out.extend(camel.find_iter(&code).map(|m| {
            let mut kebab = String::new();
            for (i, ch) in m.as_str().chars().enumerate() {
                if ch.is_uppercase() && i > 0 {
                    kebab.push('-');
                }
                kebab.push(ch.to_ascii_lowercase());
            }
            kebab
        }));
    }
    out
}

#[test]
fn every_rota_admin_command_exists() {
    let command = re(r"rota-admin ([a-z][a-z-]*)");
    let commands = admin_commands();
    assert!(commands.contains("verify"), "{commands:?}");
    let find = |text: &str| -> Vec<String> {
        command
            .captures_iter(text)
            .map(|c| c[1].to_string())
            .collect()
    };
    let mut drift = Drift::default();
    for comment in template_comments() {
        for cmd in find(comment) {
            drift.check(commands.contains(&cmd), || {
                format!("template.yaml: `rota-admin {cmd}` in {comment:?}")
            });
        }
    }
    drift.assert_none("rota-admin commands in the template's comments");
    check_citations("rota-admin commands", 3, find, |cmd| commands.contains(cmd));
}

// ---------------------------------------------------------------------------------------------
// The template
// ---------------------------------------------------------------------------------------------

/// Backticked names that are the template's own: its resources (by the suffixes its logical
/// ids use) and parameters.
#[test]
fn every_cited_template_name_exists() {
    let t = template();
    // A logical id, or a property name (`MaximumConcurrency`).
    let properties: BTreeSet<&str> = all_values(t)
        .into_iter()
        .filter_map(Value::as_object)
        .flat_map(|m| m.keys().map(String::as_str))
        .collect();
    let known = |name: &str| {
        ["Resources", "Parameters", "Conditions", "Rules", "Outputs"]
            .iter()
            .any(|section| t[section].get(name).is_some())
            || properties.contains(name)
    };
    let suffixes = [
        "Function",
        "Alarm",
        "Role",
        "Queue",
        "Topic",
        "TopicKey",
        "Vault",
        "Plan",
        "Selection",
        "Dashboard",
        "MetricFilter",
        "LogGroup",
        "Concurrency",
        "Endpoint",
    ];
    let camel = re(r"^[A-Z][A-Za-z0-9]+$");
    let mut drift = Drift::default();
    let mut checked = 0;
    for d in docs() {
        for span in &d.spans {
            let name = span.split('.').next().unwrap();
            let ours = camel.is_match(name)
                && !name.starts_with("AWS")
                && ((name.starts_with("Rota") && name != "Rota")
                    || suffixes.iter().any(|s| name.ends_with(s)));
            if !ours {
                continue;
            }
            checked += 1;
            drift.check(known(name), || {
                format!(
                    "{}: `{span}` is no resource, parameter or condition",
                    d.name
                )
            });
        }
    }
    assert!(checked > 20, "only {checked} template names found");
    drift.assert_none("template names");
}

#[test]
fn the_parameters_table_gives_the_templates_defaults() {
    let table = doc("docs/operations.md").table(&["parameter", "default", "what"]);
    let mut drift = Drift::default();
    for row in &table.rows {
        let default = row[1].spans.first().cloned().unwrap_or_default();
        for name in &row[0].spans {
            let p = &template()["Parameters"][name];
            if p.is_null() {
                drift.check(false, || format!("`{name}` is no parameter"));
                continue;
            }
            let actual = match &p["Default"] {
                Value::String(s) => s.clone(),
                Value::Null => String::new(),
                other => other.to_string(),
            };
            drift.check(actual == default, || {
                format!("`{name}`: the table says `{default}`, the template {actual:?}")
            });
        }
    }
    drift.assert_none("docs/operations.md's parameters table");
}

#[test]
fn the_alarms_table_lists_every_alarm() {
    let table = doc("docs/operations.md").table(&["alarm", "condition", "why this threshold"]);
    let alarms: BTreeSet<&str> = of_type("AWS::CloudWatch::Alarm")
        .map(|(k, _)| k.as_str())
        .collect();
    let mut listed = BTreeSet::new();
    let mut drift = Drift::default();
    let count = re(r"\((\d+)\)");
    for row in &table.rows {
        let Some(name) = row[0].spans.first() else {
            continue;
        };
        if let Some((head, tail)) = name.split_once("<Route>") {
            let matching: Vec<&str> = alarms
                .iter()
                .copied()
                .filter(|a| a.starts_with(head) && a.ends_with(tail))
                .collect();
            let said: usize = count
                .captures(&row[0].text)
                .map(|c| c[1].parse().unwrap())
                .unwrap_or(0);
            drift.check(said == matching.len(), || {
                format!("`{name}` ({said}): the template has {}", matching.len())
            });
            listed.extend(matching);
        } else {
            drift.check(alarms.contains(name.as_str()), || {
                format!("`{name}` is no alarm of the template")
            });
            listed.insert(name.as_str());
        }
    }
    drift.each(
        &alarms,
        |a| listed.contains(*a),
        |a| format!("{a} is missing from the table"),
    );
    drift.assert_none("docs/operations.md's alarms table");
}

#[test]
fn the_cors_section_lists_the_templates_headers() {
    let cors = &template()["Resources"]["RotaHttpApi"]["Properties"]["CorsConfiguration"];
    let config = cors["Fn::If"][1].clone();
    let list = |key: &str| -> BTreeSet<String> {
        config[key]
            .as_array()
            .unwrap_or_else(|| panic!("CorsConfiguration.{key}"))
            .iter()
            .map(|v| v.as_str().unwrap().to_lowercase())
            .collect()
    };
    let (allow, expose, methods) = (
        list("AllowHeaders"),
        list("ExposeHeaders"),
        list("AllowMethods"),
    );
    let section = doc("docs/operations.md").section("CORS");
    let spans: BTreeSet<String> = section.spans.iter().map(|s| s.to_lowercase()).collect();
    let mut drift = Drift::default();
    drift.each(
        allow.iter().chain(&expose),
        |h| spans.contains(*h),
        |h| format!("`{h}` is not listed"),
    );
    let header_like = re(r"^[a-z]+(?:-[a-z]+)+$");
    for span in spans
        .iter()
        .filter(|s| header_like.is_match(s) && !s.starts_with("rota-"))
    {
        let ok =
            allow.contains(span) || expose.contains(span) || span.starts_with("access-control");
        drift.check(ok, || {
            format!("`{span}` is in neither header list of the template")
        });
    }
    for method in &methods {
        let word = re(&format!(r"\b{}\b", method.to_uppercase()));
        drift.check(word.is_match(&section.text), || {
            format!("method {method} is not listed")
        });
    }
    let max_age = config["MaxAge"].as_i64().unwrap();
    drift.check(
        section.text.contains(&format!("MaxAge {max_age} s")),
        || format!("`MaxAge` is {max_age} s in the template"),
    );
    drift.assert_none("docs/operations.md, CORS");
}

#[test]
fn the_roles_the_template_writes_itself_are_named() {
    let spans: BTreeSet<&str> = doc("docs/operations.md")
        .spans
        .iter()
        .map(String::as_str)
        .collect();
    let mut drift = Drift::default();
    let mut roles = 0;
    for (name, f) in functions() {
        if let Some(role) = f["Properties"]["Role"]["Fn::GetAtt"][0].as_str() {
            roles += 1;
            drift.check(spans.contains(role), || {
                format!("{name}'s own role {role} is not named in docs/operations.md")
            });
        }
    }
    assert!(roles > 0);
    drift.assert_none("function roles written in the template");
}

/// The activity grant (the same statement on every function that authenticates callers).
fn activity_statements() -> Vec<(&'static String, Vec<&'static str>)> {
    let mut out = Vec::new();
    for (name, f) in functions() {
        for s in statements(f) {
            let attrs = attributes(s);
            if actions(s).contains(&"dynamodb:UpdateItem") && attrs.contains(&"active_hour") {
                out.push((name, attrs));
            }
        }
    }
    out
}

#[test]
fn the_activity_grant_is_as_documented() {
    let grants = activity_statements();
    let ops = doc("docs/operations.md");
    let text: String = ops.sections.iter().map(|s| s.text.as_str()).collect();
    let c = re(r"its item's (\w+) attributes \(([^)]+)\)")
        .captures(&text)
        .expect("docs/operations.md: the activity grant's attributes");
    let said: Vec<&str> = c[2].split(',').map(str::trim).collect();
    assert_eq!(number(&c[1]), Some(said.len()), "{}", &c[0]);
    assert!(!grants.is_empty(), "no activity grant found");
    for (name, attrs) in &grants {
        assert_eq!(attrs, &said, "{name}'s activity grant");
    }
}

// ---------------------------------------------------------------------------------------------
// Counts
// ---------------------------------------------------------------------------------------------

fn number(word: &str) -> Option<usize> {
    const WORDS: [&str; 21] = [
        "zero",
        "one",
        "two",
        "three",
        "four",
        "five",
        "six",
        "seven",
        "eight",
        "nine",
        "ten",
        "eleven",
        "twelve",
        "thirteen",
        "fourteen",
        "fifteen",
        "sixteen",
        "seventeen",
        "eighteen",
        "nineteen",
        "twenty",
    ];
    word.parse()
        .ok()
        .or_else(|| WORDS.iter().position(|w| w.eq_ignore_ascii_case(word)))
}

/// What a document says a number is, and what it is.
struct Count {
    doc: &'static str,
    /// Matches where the document states it; its first group is the number (digits or a word).
    said: &'static str,
    what: &'static str,
    actual: fn() -> usize,
}

fn counts() -> Vec<Count> {
    let remind_receives = || {
        template()["Resources"]["RemindersQueue"]["Properties"]["RedrivePolicy"]["maxReceiveCount"]
            .as_u64()
            .unwrap() as usize
    };
    vec![
        Count {
            doc: "docs/operations.md",
            said: r"writes of all (\w+) indexes",
            what: "the table's global secondary indexes",
            actual: || gsis().len(),
        },
        Count {
            doc: "docs/data-model.md",
            said: r"(\w+) global secondary indexes",
            what: "the table's global secondary indexes",
            actual: || gsis().len(),
        },
        Count {
            doc: "docs/operations.md",
            said: r"(\w+) metrics, the most an alarm may use",
            what: "DynamoDbThrottlesAlarm's metrics",
            actual: || {
                template()["Resources"]["DynamoDbThrottlesAlarm"]["Properties"]["Metrics"]
                    .as_array()
                    .unwrap()
                    .len()
            },
        },
        Count {
            doc: "docs/operations.md",
            said: r"and reads of (\w+) of them",
            what: "the indexes whose reads DynamoDbThrottlesAlarm counts",
            actual: || {
                all_values(&template()["Resources"]["DynamoDbThrottlesAlarm"])
                    .into_iter()
                    .filter(|v| {
                        v["MetricName"] == "ReadThrottleEvents"
                            && v["Dimensions"]
                                .to_string()
                                .contains("GlobalSecondaryIndexName")
                    })
                    .count()
            },
        },
        Count {
            doc: "docs/operations.md",
            said: r"a batch failed (\d+) times",
            what: "RemindersQueue's maxReceiveCount",
            actual: remind_receives,
        },
        Count {
            doc: "docs/architecture.md",
            said: r"DLQ after (\d+)",
            what: "RemindersQueue's maxReceiveCount",
            actual: remind_receives,
        },
        Count {
            doc: "docs/operations.md",
            said: r"the (\d+) with `REDIS_URL`",
            what: "functions with REDIS_URL",
            actual: || functions().filter(|(_, f)| has_redis(f)).count(),
        },
        Count {
            doc: "docs/architecture.md",
            said: r"grant to (\d+) roles",
            what: "functions with REDIS_URL",
            actual: || functions().filter(|(_, f)| has_redis(f)).count(),
        },
        Count {
            doc: "docs/operations.md",
            said: r"verify tokens \((\d+) of them",
            what: "functions with REDIS_URL that read the JWT secret",
            actual: || {
                functions()
                    .filter(|(_, f)| {
                        has_redis(f)
                            && statements(f)
                                .iter()
                                .any(|s| actions(s).contains(&"ssm:GetParameter"))
                    })
                    .count()
            },
        },
        Count {
            doc: "docs/operations.md",
            said: r"The activity record, which (\d+) functions write",
            what: "functions granted the activity write",
            actual: || activity_statements().len(),
        },
        Count {
            doc: "docs/data-model.md",
            said: r"the (\d+) functions the template grants the activity statement",
            what: "functions granted the activity write",
            actual: || activity_statements().len(),
        },
        Count {
            doc: "docs/operations.md",
            said: r"6 metrics × (\d+) routes",
            what: "the HTTP API's routes",
            actual: routes,
        },
        Count {
            doc: "docs/operations.md",
            said: r"routes = (\d+) custom metrics",
            what: "6 metrics per route of the HTTP API",
            actual: || 6 * routes(),
        },
        Count {
            doc: "docs/operations.md",
            said: r"`MaximumConcurrency` \((\d+)\)",
            what: "the reminder worker's MaximumConcurrency",
            actual: || {
                template()["Resources"]["RemindersWorkerFunction"]["Properties"]["Events"]["Queue"]
                    ["Properties"]["ScalingConfig"]["MaximumConcurrency"]
                    .as_u64()
                    .unwrap() as usize
            },
        },
        Count {
            doc: "docs/data-model.md",
            said: r"FEED_SHARDS = (\d+)\*\*",
            what: "the template's FEED_SHARDS",
            actual: || {
                template()["Globals"]["Function"]["Environment"]["Variables"]["FEED_SHARDS"]
                    .as_str()
                    .unwrap()
                    .parse()
                    .unwrap()
            },
        },
        Count {
            doc: "docs/data-model.md",
            said: r"(\d+) like shards per post",
            what: "rota_store::posts::LIKE_SHARDS",
            actual: || rota_store::posts::LIKE_SHARDS as usize,
        },
        Count {
            doc: "docs/data-model.md",
            said: r"ACTIVE#<(?:user )?id mod (\d+)>",
            what: "rota_store::activity::SHARDS",
            actual: || rota_store::activity::SHARDS as usize,
        },
        Count {
            doc: "docs/data-model.md",
            said: r"spread over (\d+) shards",
            what: "rota_store::counters::SHARDS",
            actual: || rota_store::counters::SHARDS as usize,
        },
        Count {
            doc: "docs/data-model.md",
            said: r"`DB_RETRY_BUDGET_MS` \((\d+) ms",
            what: "the template's DB_RETRY_BUDGET_MS",
            actual: || global_env_number("DB_RETRY_BUDGET_MS"),
        },
        Count {
            doc: "docs/data-model.md",
            said: r"`DB_ATTEMPT_TIMEOUT_MS` \((\d+) ms",
            what: "the template's DB_ATTEMPT_TIMEOUT_MS",
            actual: || global_env_number("DB_ATTEMPT_TIMEOUT_MS"),
        },
    ]
}

/// The HTTP API's routes: every function's `HttpApi` events.
fn routes() -> usize {
    functions()
        .flat_map(|(_, f)| f["Properties"]["Events"].as_object().into_iter().flatten())
        .filter(|(_, e)| e["Type"] == "HttpApi")
        .count()
}

fn global_env_number(name: &str) -> usize {
    template()["Globals"]["Function"]["Environment"]["Variables"][name]
        .as_str()
        .unwrap()
        .parse()
        .unwrap()
}

#[test]
fn every_count_the_documents_state_is_the_templates_or_the_codes() {
    let mut drift = Drift::default();
    for count in counts() {
        let text = std::fs::read_to_string(repo_root().join(count.doc)).unwrap();
        let text = text.split_whitespace().collect::<Vec<_>>().join(" ");
        let actual = (count.actual)();
        let found: Vec<_> = re(count.said).captures_iter(&text).collect();
        drift.check(!found.is_empty(), || {
            format!(
                "{}: no longer says /{}/ ({})",
                count.doc, count.said, count.what
            )
        });
        for c in found {
            let said = number(&c[1]);
            drift.check(said == Some(actual), || {
                format!(
                    "{}: {:?} but {} is {actual}",
                    count.doc,
                    c.get(0).unwrap().as_str(),
                    count.what
                )
            });
        }
    }
    drift.assert_none("counts");
}

#[test]
fn every_schedule_expression_is_the_templates() {
    let expressions: BTreeSet<&str> = all_values(template())
        .into_iter()
        .filter_map(|v| v.get("ScheduleExpression").and_then(Value::as_str))
        .collect();
    let mut drift = Drift::default();
    for d in docs() {
        for span in d
            .spans
            .iter()
            .filter(|s| s.starts_with("cron(") || s.starts_with("rate("))
        {
            drift.check(expressions.contains(span.as_str()), || {
                format!("{}: `{span}` is no schedule of the template", d.name)
            });
        }
    }
    drift.assert_none("schedules");
}

// ---------------------------------------------------------------------------------------------
// DynamoDB keys and indexes
// ---------------------------------------------------------------------------------------------

/// The data layer's code (the store, and what still builds keys elsewhere), without tests.
fn data_code() -> String {
    repo()
        .sources_under(&["shared/store/src/", "shared/api/src/", "admin/src/"])
        .map(|s| s.code())
        .collect::<Vec<_>>()
        .join("\n")
}

/// A key-like code span: `USER#<id>`, `PROFILE`, `FEED#<shard>` (not an update expression's
/// `REMOVE`).
fn key_token(span: &str) -> Option<&str> {
    if ["SET", "REMOVE", "ADD", "DELETE"].contains(&span) {
        return None;
    }
    let c = re(r"^([A-Z][A-Z_]{2,}#?)").captures(span)?;
    let token = c.get(1).unwrap().as_str();
    // Only a whole token, or its prefix before a placeholder.
    let rest = &span[token.len()..];
    (rest.is_empty() || token.ends_with('#')).then_some(token)
}

#[test]
fn every_key_of_the_data_model_is_built_by_the_code_and_back() {
    let dm = doc("docs/data-model.md");
    let code = data_code();
    let mut drift = Drift::default();
    let mut cited = BTreeSet::new();
    for table in &dm.tables {
        for cell in table.rows.iter().flatten() {
            for span in &cell.spans {
                if let Some(token) = key_token(span) {
                    cited.insert(token.to_string());
                }
            }
        }
    }
    for token in &cited {
        // `"USER#{id}"`, `format!("ACTIVE#{}")`, `s("PROFILE")`, `SK: &str = "COUNTERS"`.
        let built = if token.ends_with('#') {
            code.contains(&format!("\"{token}"))
        } else {
            code.contains(&format!("\"{token}\""))
        };
        drift.check(built, || {
            format!("docs/data-model.md: `{token}` is built by no code (shared/store, shared/api, admin)")
        });
    }
    assert!(
        cited.len() > 20,
        "only {} keys found: {cited:?}",
        cited.len()
    );
    let prefixes: BTreeSet<String> = re(r#""([A-Z][A-Z_]{2,}#)"#)
        .captures_iter(&code)
        .map(|c| c[1].to_string())
        .collect();
    drift.each(
        &prefixes,
        |p| cited.contains(*p),
        |p| format!("the code builds `{p}…`, which no table of docs/data-model.md lists"),
    );
    drift.assert_none("DynamoDB keys");
}

#[test]
fn the_index_table_is_the_templates() {
    let table =
        doc("docs/data-model.md").table(&["index", "partition key", "sort key", "projection"]);
    let mut drift = Drift::default();
    let documented: BTreeSet<&str> = table
        .rows
        .iter()
        .filter_map(|r| r[0].spans.first().map(String::as_str))
        .collect();
    for gsi in gsis() {
        let name = gsi["IndexName"].as_str().unwrap();
        let Some(row) = table
            .rows
            .iter()
            .find(|r| r[0].spans.first().is_some_and(|s| s == name))
        else {
            drift.check(false, || format!("`{name}` is not in the table"));
            continue;
        };
        let key = |kind: &str| {
            gsi["KeySchema"]
                .as_array()
                .unwrap()
                .iter()
                .find(|k| k["KeyType"] == kind)
                .map(|k| k["AttributeName"].as_str().unwrap().to_string())
        };
        let first = |cell: usize| row[cell].spans.first().cloned();
        drift.check(first(1) == key("HASH"), || {
            format!(
                "`{name}`: partition key {:?}, the template {:?}",
                first(1),
                key("HASH")
            )
        });
        drift.check(first(2) == key("RANGE"), || {
            format!(
                "`{name}`: sort key {:?}, the template {:?}",
                first(2),
                key("RANGE")
            )
        });
        let projection = gsi["Projection"]["ProjectionType"].as_str().unwrap();
        drift.check(row[3].text.trim() == projection, || {
            format!(
                "`{name}`: projection {:?}, the template {projection}",
                row[3].text
            )
        });
    }
    let names: BTreeSet<&str> = gsis()
        .iter()
        .filter_map(|g| g["IndexName"].as_str())
        .collect();
    for name in &documented {
        drift.check(names.contains(name), || {
            format!("`{name}` is no index of the template")
        });
    }
    // Index names elsewhere in the three documents.
    for d in docs() {
        for span in d
            .spans
            .iter()
            .filter(|s| re(r"^[a-z]+(?:-[a-z]+)+$").is_match(s))
        {
            if span.starts_with("feed-") || span.ends_with("-users") || span.ends_with("-due") {
                drift.check(names.contains(span.as_str()), || {
                    format!("{}: `{span}` is no index of the template", d.name)
                });
            }
        }
    }
    drift.assert_none("docs/data-model.md's indexes");
}

// ---------------------------------------------------------------------------------------------
// Redis keys
// ---------------------------------------------------------------------------------------------

/// Every Redis key shape the HTTP crate builds, `*` for each variable part: the literals and
/// format strings of its code made of `:`-separated words and placeholders, with string
/// constants substituted and the per-user limits' names (`limit_user(…, "like", …)`) filled in.
fn redis_keys_built() -> BTreeSet<String> {
    let mut shapes = BTreeSet::new();
    let literal = re(r#""([^"\s]+)""#);
    let segment = re(r"^(?:[a-z_0-9]+|\{[A-Za-z_]*\}|\{[a-z]+\})$");
    let constant = re(r#"const ([A-Z_]+): &str = "([^"]*)";"#);
    let limit_names: Vec<String> = re(r#"limit_user\(\s*[^,]+,\s*[^,]+,\s*"([a-z_]+)""#)
        .captures_iter(
            &repo()
                .sources_under(&["shared/api/src/"])
                .map(|s| s.code())
                .collect::<String>(),
        )
        .map(|c| c[1].to_string())
        .collect();
    assert!(!limit_names.is_empty(), "no limit_user call found");
    for s in repo().sources_under(&["shared/api/src/"]) {
        let code = s.code();
        let consts: BTreeMap<String, String> = constant
            .captures_iter(&code)
            .map(|c| (c[1].to_string(), c[2].to_string()))
            .collect();
        for c in literal.captures_iter(&code) {
            let mut text = c[1].to_string();
            for (name, value) in &consts {
                text = text.replace(&format!("{{{name}}}"), value);
            }
            let parts: Vec<&str> = text.split(':').collect();
            if parts.len() < 2 || !parts.iter().all(|p| segment.is_match(p)) {
                continue;
            }
            // `{feed}` is a hash tag, every other `{…}` a value.
            let shape = re(r"\{[A-Za-z_]*\}")
                .replace_all(&text, |m: &regex::Captures| {
                    if &m[0] == "{feed}" {
                        "{feed}".to_string()
                    } else {
                        "*".to_string()
                    }
                })
                .to_string();
            // A shape of placeholders only (`{}:{}`) is a value, not a key; a URN
            // (`urn:rota:problem:…`) is a problem type.
            if shape.split(':').all(|p| p == "*") || shape.starts_with("urn:") {
                continue;
            }
            if let Some(rest) = shape.strip_prefix("*:user:") {
                for name in &limit_names {
                    shapes.insert(format!("{name}:user:{rest}"));
                }
            } else {
                shapes.insert(shape);
            }
        }
    }
    shapes
}

/// Literals that look like keys but name a cursor's list (signed into the cursor, never sent
/// to Redis): each checked to be passed to `read_cursor`.
const CURSOR_LISTS: [&str; 2] = ["comments:*", "notifications:*:*"];

/// `pattern`'s `*` stands for any non-empty text.
fn glob(pattern: &str, text: &str) -> bool {
    let re_text = format!(
        "^{}$",
        pattern
            .split('*')
            .map(regex::escape)
            .collect::<Vec<_>>()
            .join(".+")
    );
    re(&re_text).is_match(text)
}

#[test]
fn the_redis_key_table_is_every_key_the_code_builds() {
    let table = doc("docs/data-model.md").table(&["key", "what", "expiry"]);
    let placeholder = re(r"<[^>]*>");
    // The limiter prefixes every key it is given with `rl:` (ratelimit.rs).
    let limiter_prefix = "rl:";
    let ratelimit = repo().source("shared/api/src/ratelimit.rs").unwrap().code();
    assert!(
        ratelimit.contains("\"rl:{key}\""),
        "the limiter's key prefix changed"
    );
    let documented: Vec<String> = table
        .rows
        .iter()
        .filter_map(|r| r[0].spans.first())
        .map(|k| placeholder.replace_all(k, "*").to_string())
        .collect();
    let built: BTreeSet<String> = redis_keys_built()
        .into_iter()
        .filter(|k| k != "rl:*")
        .collect();
    let api_code: String = repo()
        .sources_under(&["shared/api/src/"])
        .map(|s| s.code())
        .collect();
    for list in CURSOR_LISTS {
        assert!(
            built.contains(list),
            "{list} is no longer built: update CURSOR_LISTS"
        );
        let name = list.split(':').next().unwrap();
        assert!(
            re(&format!(r#"let list = format!\("{name}:"#)).is_match(&api_code)
                && api_code.contains("read_cursor"),
            "{list} is no longer a cursor's list"
        );
    }
    let mut drift = Drift::default();
    let matches = |code_key: &str, doc_key: &str| {
        let doc_key = doc_key.strip_prefix(limiter_prefix).unwrap_or(doc_key);
        glob(code_key, doc_key)
    };
    for key in built.iter().filter(|k| !CURSOR_LISTS.contains(&k.as_str())) {
        drift.check(
            documented.iter().any(|d| matches(key.as_str(), d.as_str())),
            || format!("the code builds `{key}`, which the Redis key table does not list"),
        );
    }
    for d in &documented {
        drift.check(
            built.iter().any(|k| matches(k.as_str(), d.as_str())),
            || format!("the Redis key table lists `{d}`, which no code builds"),
        );
    }
    drift.assert_none("docs/data-model.md's Redis keys");
}

// ---------------------------------------------------------------------------------------------
// The checks catch what they are for (each rule on a drifted sample)
// ---------------------------------------------------------------------------------------------

#[test]
fn checkers_catch_the_drift_they_are_for() {
    // Paths.
    assert!(path_like("tests/support/harness.rs"));
    assert!(!repo().paths.contains("tests/support/harness.rs"));
    assert!(exists_as_suffix("harness/mod.rs"));
    assert!(!path_like("rediss://") && !path_like("/docs") && !path_like("nodes.conf"));
    // Rust paths.
    assert!(repo().resolves("rota_domain::ids::PostId"));
    assert!(repo().resolves("ids::PostId"));
    assert!(!repo().resolves("rota_domain::ids::PathId"));
    assert!(!repo().resolves("rota_domain::nothing::PostId"));
    assert!(!repo().resolves("ids::Nothing"));
    assert!(repo().resolves("StoreError::Conflict"));
    assert!(!repo().resolves("StoreError::Nonsense"));
    assert!(repo().resolves("redis::Script"));
    assert_eq!(
        rust_paths("a `AWS::IAM::Role` and Fn::If"),
        Vec::<String>::new()
    );
    // Commands.
    assert!(!admin_commands().contains("redrive-reminders"));
    assert!(!repo().targets.contains("no-such-target") && repo().targets.contains("test"));
    // Keys.
    assert_eq!(key_token("USER#<id>"), Some("USER#"));
    assert_eq!(key_token("ACTIVE"), Some("ACTIVE"));
    assert_eq!(key_token("STATS/COUNTERS"), None);
    assert!(!data_code().contains("\"ACTIVE\""));
    assert!(glob("*:lock", "stats:v2:lock") && !glob("*:lock", "stats:v2"));
    // Documents: a drifted sample parses into what the rules read.
    let sample = Doc::parse(
        "sample",
        "# T\n\n| key | what |\n|---|---|\n| `{feed}:v2:<new\\|top>` | x |\n\n```rust\nfn x() {}\n```\n",
    );
    assert_eq!(sample.tables[0].rows[0][0].spans, ["{feed}:v2:<new|top>"]);
    assert_eq!(sample.blocks[0].0, "rust");
    assert!(sample.anchors.contains("t"));
    assert_eq!(number("four"), Some(4));
    assert_eq!(
        slug("Dashboard: the owner's KPIs"),
        "dashboard-the-owners-kpis"
    );
}
