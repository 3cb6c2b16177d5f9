//! The OpenAPI document declares what the code enforces, so a client generated from it never
//! sends a request the API refuses: its enums are the server's sets, its text patterns accept
//! exactly what the parsers accept, every operation lists every status it can answer, and
//! links reach every operation that needs an id (schemathesis' stateful phase follows them;
//! scripts/schemathesis.sh runs it against the stack).

use regex::Regex;
use rota_domain::input::{CommentContent, DisplayName, PostContent, PostTitle, TimeZone};
use serde_json::Value;
use std::collections::BTreeSet;

fn doc() -> Value {
    serde_json::from_str(rota_api::handlers::ops::openapi_json()).unwrap()
}

fn schema<'a>(doc: &'a Value, name: &str) -> &'a Value {
    &doc["components"]["schemas"][name]
}

fn strings(v: &Value) -> BTreeSet<String> {
    v.as_array()
        .unwrap_or_else(|| panic!("{v} is not an array"))
        .iter()
        .map(|s| s.as_str().expect("enum of strings").to_owned())
        .collect()
}

/// Every operation: (METHOD path, operation object).
fn operations(doc: &Value) -> Vec<(String, &Value)> {
    let mut ops = Vec::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            if method != "parameters" {
                ops.push((format!("{} {path}", method.to_uppercase()), op));
            }
        }
    }
    ops
}

#[test]
fn the_time_zone_enum_is_every_name_the_server_accepts() {
    let doc = doc();
    let declared = strings(&schema(&doc, "TimeZone")["enum"]);
    let accepted: BTreeSet<String> = TimeZone::names().map(str::to_owned).collect();
    assert_eq!(
        declared,
        accepted,
        "components.schemas.TimeZone.enum must be chrono-tz's names; missing: {:?}, extra: {:?}",
        accepted.difference(&declared).collect::<Vec<_>>(),
        declared.difference(&accepted).collect::<Vec<_>>()
    );
    for name in &declared {
        assert!(TimeZone::parse(name).is_ok(), "{name} is refused");
    }
    let request = &schema(&doc, "UpdateMeRequest")["properties"]["timezone"]["$ref"];
    assert_eq!(request, "#/components/schemas/TimeZone");
}

#[test]
fn the_goal_enum_is_the_catalog() {
    let doc = doc();
    let declared = strings(&schema(&doc, "GoalSlug")["enum"]);
    // What the catalog lists is what a roadmap may be created for, in the generated types too.
    for (name, slug) in [
        (
            "CreateRoadmapRequest",
            &schema(&doc, "CreateRoadmapRequest")["properties"]["goal"],
        ),
        (
            "CatalogGoal",
            &schema(&doc, "CatalogGoal")["properties"]["slug"],
        ),
    ] {
        assert_eq!(slug["$ref"], "#/components/schemas/GoalSlug", "{name}");
    }
    let catalog: BTreeSet<String> = rota_roadmap::catalog()
        .iter()
        .map(|g| g.slug.clone())
        .collect();
    assert_eq!(declared, catalog);
}

/// A string schema's pattern and lengths, as a predicate (the `regex` crate reads the
/// document's `\xNN`/`\uNNNN` escapes as ECMA-262 does).
fn declared(schema: &Value) -> impl Fn(&str) -> bool {
    let pattern = Regex::new(schema["pattern"].as_str().expect("a pattern")).unwrap();
    let min = schema["minLength"].as_u64().unwrap_or(0) as usize;
    let max = schema["maxLength"]
        .as_u64()
        .map_or(usize::MAX, |m| m as usize);
    move |s: &str| {
        let n = s.chars().count();
        (min..=max).contains(&n) && pattern.is_match(s)
    }
}

/// Strings around every edge the parsers have: each character of the control, space and
/// format ranges alone, leading, trailing and inside ordinary text, and lengths at the limits.
fn edge_strings(max: usize) -> Vec<String> {
    let specials: Vec<char> = (0u32..=0x2100)
        .chain([0x2028, 0x2029, 0x202f, 0x205f, 0x3000, 0xfeff, 0x1f600])
        .filter_map(char::from_u32)
        .collect();
    let mut out = vec![String::new(), "a".into(), "é".into()];
    for &c in &specials {
        for s in [
            c.to_string(),
            format!("{c}a"),
            format!("a{c}"),
            format!("a{c}b"),
            format!("{c}{c}"),
        ] {
            out.push(s);
        }
    }
    for n in [max - 1, max, max + 1] {
        out.push("x".repeat(n));
        out.push(format!(" {} ", "x".repeat(n.saturating_sub(2))));
        out.push(format!("{}\u{3000}\u{3000}", "é".repeat(n)));
    }
    out
}

fn assert_agrees(name: &str, schema: &Value, max: usize, parse: impl Fn(&str) -> bool) {
    let valid = declared(schema);
    let disagreements: Vec<String> = edge_strings(max)
        .into_iter()
        .filter(|s| valid(s) != parse(s))
        .map(|s| format!("{s:?} (document: {}, server: {})", valid(&s), parse(&s)))
        .collect();
    assert!(
        disagreements.is_empty(),
        "{name}: the document and the server disagree on {} strings, e.g. {:?}",
        disagreements.len(),
        &disagreements[..disagreements.len().min(5)]
    );
}

#[test]
fn text_patterns_accept_exactly_what_the_server_accepts() {
    let doc = doc();
    assert_agrees("PostTitle", schema(&doc, "PostTitle"), 200, |s| {
        PostTitle::parse(s).is_ok()
    });
    assert_agrees("PostContent", schema(&doc, "PostContent"), 10_000, |s| {
        PostContent::parse(s).is_ok()
    });
    let comment = &schema(&doc, "CreateCommentRequest")["properties"]["content"];
    assert_agrees("comment content", comment, 2000, |s| {
        CommentContent::parse(s).is_ok()
    });
    assert_agrees("DisplayName", schema(&doc, "DisplayName"), 50, |s| {
        DisplayName::parse(s).is_ok()
    });
}

/// The statuses any operation can answer: API Gateway's throttling (429), a crashed or timed
/// out invocation (500, 503), a body over the limit (413) and a dependency down (503).
const EVERY_OPERATION: [&str; 4] = ["413", "429", "500", "503"];

#[test]
fn every_operation_declares_every_status_it_can_answer() {
    let doc = doc();
    let mut missing = Vec::new();
    for (name, op) in operations(&doc) {
        let responses = op["responses"].as_object().unwrap();
        let mut needed: Vec<&str> = EVERY_OPERATION.to_vec();
        if op.get("requestBody").is_some() {
            needed.extend(["400", "415", "422"]);
        }
        if op.get("security") != Some(&Value::Array(vec![])) {
            needed.push("401");
        }
        if name.contains('{') {
            needed.push("404");
        }
        let has_query = |n: &str| {
            op["parameters"].as_array().is_some_and(|ps| {
                ps.iter().any(|p| {
                    p["$ref"]
                        .as_str()
                        .is_some_and(|r| r.ends_with(&format!("/{n}")))
                })
            })
        };
        if has_query("Cursor") {
            needed.extend(["400", "422"]);
        }
        for status in needed {
            if !responses.contains_key(status) {
                missing.push(format!("{name}: {status}"));
            }
        }
    }
    assert!(missing.is_empty(), "undeclared statuses: {missing:#?}");
}

#[test]
fn errors_the_gateway_answers_itself_are_declared_with_its_body() {
    // API Gateway's own 413, 429, 500 and 503 are `{"message": ...}` without X-Request-Id.
    let doc = doc();
    for name in [
        "PayloadTooLarge",
        "RateLimited",
        "InternalError",
        "ServiceUnavailable",
    ] {
        let response = &doc["components"]["responses"][name];
        assert!(
            response["content"]["application/json"]["schema"]["$ref"]
                .as_str()
                .is_some_and(|r| r.ends_with("/GatewayMessage")),
            "{name} does not declare API Gateway's own body"
        );
        assert!(
            response["content"]["application/problem+json"].is_object(),
            "{name} lost the functions' problem+json"
        );
        let request_id = &response["headers"]["X-Request-Id"];
        let required = match request_id.get("$ref") {
            Some(r) => {
                let name = r.as_str().unwrap().rsplit('/').next().unwrap();
                doc["components"]["headers"][name]["required"].clone()
            }
            None => request_id["required"].clone(),
        };
        assert_ne!(
            required,
            Value::Bool(true),
            "{name}: API Gateway's own answer carries no X-Request-Id"
        );
    }
}

#[test]
fn links_reach_every_operation_that_needs_an_id() {
    let doc = doc();
    let mut targets = BTreeSet::new();
    for (_, op) in operations(&doc) {
        for response in op["responses"].as_object().unwrap().values() {
            for link in response["links"].as_object().into_iter().flatten() {
                targets.insert(link.1["operationId"].as_str().unwrap().to_owned());
            }
        }
    }
    let ids: BTreeSet<String> = operations(&doc)
        .iter()
        .map(|(_, op)| op["operationId"].as_str().unwrap().to_owned())
        .collect();
    assert!(
        targets.is_subset(&ids),
        "links to unknown operations: {:?}",
        targets.difference(&ids).collect::<Vec<_>>()
    );
    let mut unreached = Vec::new();
    for (name, op) in operations(&doc) {
        let id = op["operationId"].as_str().unwrap();
        // A path parameter with an enum (the docs' file names) can be generated; an id cannot.
        let enum_only = |op: &Value| {
            op["parameters"]
                .as_array()
                .into_iter()
                .flatten()
                .any(|p| p["in"] == "path" && p["schema"]["enum"].is_array())
        };
        let path_item = &doc["paths"][name.split_once(' ').unwrap().1];
        // Notifications are made by the reminder worker, never by an API call: no response
        // can link to one (schemathesis tests that operation with generated ids, i.e. 404s).
        let made_elsewhere = id == "markNotificationRead";
        let needs_data = (name.contains('{') && !enum_only(path_item) && !made_elsewhere)
            || ["refreshTokens", "logout"].contains(&id);
        if needs_data && !targets.contains(id) {
            unreached.push(name);
        }
    }
    assert!(
        unreached.is_empty(),
        "no link reaches: {unreached:#?} (stateful testing could only guess their ids)"
    );
}
