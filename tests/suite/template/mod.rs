//! `template.yaml` against the operations and security rules (issue 7, docs/operations.md):
//! least-privilege IAM text, no plain secrets in function environments, reserved concurrency,
//! tracing, backups, alarms, the dashboard and CORS. No stack needed: the template is read
//! with the local stack's parser (CloudFormation short tags in their long form).
//!
//! Every checker is also run on small bad snippets (each topic's module `checkers_catch`), so a
//! check that silently stopped finding anything would fail here too.
//!
//! Out of reach of a text check: the AWS managed policies SAM attaches to every function role
//! (AWSLambdaBasicExecutionRole, AWSXrayWriteOnlyAccess, AWSLambdaVPCAccessExecutionRole for
//! VPC functions) and the ones named in `iam::MANAGED_POLICIES_ALLOWED`.
//!
//! One module per topic: `iam`, `secrets` (and the JWT secret, issuer and audience per stack),
//! `functions` (reserved concurrency a new account accepts, tracing), `backups`, `monitoring`
//! (alarms that reach someone, the dashboard), `names` (no physical name collides with another
//! stack or a re-created one), `network` (which functions are in the VPC, its endpoints),
//! `cost` (the cost model prices this template, under budget) and `cors`.

mod backups;
mod cors;
mod cost;
mod functions;
mod iam;
mod monitoring;
mod names;
mod network;
mod secrets;

use rota_local::template::template_json;
use rota_tests::{repo_root, succeeded};
use serde_json::Value;

fn template_text() -> String {
    std::fs::read_to_string(repo_root().join("template.yaml")).expect("template.yaml")
}

fn template() -> Value {
    template_json(&template_text()).expect("template.yaml parses")
}

/// The template, after asserting that `check` finds nothing in it.
fn template_passing(check: fn(&Value) -> Vec<String>) -> Value {
    let t = template();
    let findings = check(&t);
    assert!(findings.is_empty(), "{}", findings.join("\n"));
    t
}

fn resources(t: &Value) -> impl Iterator<Item = (&String, &Value)> {
    t["Resources"].as_object().into_iter().flatten()
}

fn of_type<'a>(t: &'a Value, kind: &'a str) -> impl Iterator<Item = (&'a String, &'a Value)> {
    resources(t).filter(move |(_, r)| r["Type"] == kind)
}

/// `v` as a list of values (a single value is a list of one).
fn one_or_many(v: &Value) -> Vec<&Value> {
    match v {
        Value::Array(items) => items.iter().collect(),
        Value::Null => Vec::new(),
        other => vec![other],
    }
}

/// Both branches of every `Fn::If` (without `AWS::NoValue`), else the value itself.
fn branches(v: &Value) -> Vec<&Value> {
    if let Some(Value::Array(args)) = v.get("Fn::If")
        && args.len() == 3
    {
        return args[1..].iter().flat_map(branches).collect();
    }
    if v.get("Ref").and_then(Value::as_str) == Some("AWS::NoValue") {
        return Vec::new();
    }
    vec![v]
}

/// The literal text an ARN expression is made of (`Fn::Sub`'s template, `Fn::Join`'s parts,
/// parameter defaults behind `Ref`); references to resources and attributes contribute none.
fn literal_text(t: &Value, v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Object(m) if m.len() == 1 => {
            let (k, arg) = m.iter().next().unwrap();
            match k.as_str() {
                "Fn::Sub" => match arg {
                    Value::String(s) => s.clone(),
                    Value::Array(a) => {
                        let mut out = a.first().and_then(Value::as_str).unwrap_or("").to_string();
                        if let Some(vars) = a.get(1).and_then(Value::as_object) {
                            for var in vars.values() {
                                out.push(' ');
                                out.push_str(&literal_text(t, var));
                            }
                        }
                        out
                    }
                    _ => String::new(),
                },
                "Fn::Join" => arg
                    .get(1)
                    .map(|parts| {
                        one_or_many(parts)
                            .into_iter()
                            .map(|p| literal_text(t, p))
                            .collect::<String>()
                    })
                    .unwrap_or_default(),
                "Fn::If" => branches(v)
                    .into_iter()
                    .map(|b| literal_text(t, b))
                    .collect::<Vec<_>>()
                    .join(" "),
                "Ref" => arg
                    .as_str()
                    .and_then(|name| t["Parameters"].get(name))
                    .map(|p| match &p["Default"] {
                        Value::String(s) => s.clone(),
                        other => other.to_string(),
                    })
                    .unwrap_or_default(),
                _ => String::new(),
            }
        }
        _ => String::new(),
    }
}

/// A template snippet of a `checkers_catch` test, parsed as the real template is.
fn t(yaml: &str) -> Value {
    template_json(yaml).unwrap()
}

/// A snippet of a `checkers_catch` test with a function `Fn`: `head` (parameters, conditions,
/// globals), then under `Resources:` the resources `before` it, and `Fn`'s lines after its
/// type (`rest`: its properties, or resources after it).
fn with_function(head: &str, before: &str, rest: &str) -> Value {
    t(&format!(
        "{head}\nResources:\n{before}  Fn:\n    Type: AWS::Serverless::Function\n{rest}\n"
    ))
}
