//! The functions' settings: one binary whose handler table serves every function's `Handler`,
//! reserved concurrency for the costly ones as parameters a new account accepts (none by
//! default; the production values of docs/operations.md within a raised quota), and X-Ray
//! tracing sampled by function.

use super::*;

/// The functions whose cost (argon2id, big writes, stats queries) must not be able to take the
/// account's whole concurrency pool once in production, and the parameter reserving theirs.
const RESERVED_CONCURRENCY: &[(&str, &str)] = &[
    ("AuthRegisterFunction", "AuthRegisterConcurrency"),
    ("AuthLoginFunction", "AuthLoginConcurrency"),
    ("RoadmapsCreateFunction", "RoadmapsCreateConcurrency"),
    ("CommunityStatsFunction", "CommunityStatsConcurrency"),
];

/// Lambda's default account concurrency and the part AWS keeps unreserved: at most 900 of a
/// raised quota can be reserved, and nothing of a new account's (its quota can be 10).
const ACCOUNT_CONCURRENCY: i64 = 1000;

const UNRESERVED_MINIMUM: i64 = 100;

/// The handler names the `rota` binary serves (`rota --handlers`).
fn served_handlers() -> Vec<String> {
    let rota = rota_tests::binaries().join("rota");
    let out = std::process::Command::new(&rota)
        .arg("--handlers")
        .output()
        .unwrap_or_else(|e| panic!("{}: {e}", rota.display()));
    succeeded(&out, "rota --handlers")
        .lines()
        .map(String::from)
        .collect()
}

#[test]
fn every_function_runs_the_one_binary_under_a_handler_it_serves() {
    let t = template();
    let served = served_handlers();
    assert!(served.len() > 30, "{served:?}");
    let mut used = Vec::new();
    for (id, f) in of_type(&t, "AWS::Serverless::Function") {
        let binary = &f["Metadata"]["BuildProperties"]["Binary"];
        assert_eq!(binary, "rota", "{id}: Metadata.BuildProperties.Binary");
        let handler = f["Properties"]["Handler"]
            .as_str()
            .unwrap_or_else(|| panic!("{id}: no Handler"));
        assert!(
            served.iter().any(|h| h == handler),
            "{id}: rota does not serve {handler}"
        );
        used.push(handler.to_string());
    }
    used.sort();
    let mut unique = used.clone();
    unique.dedup();
    assert_eq!(used, unique, "two functions share a handler");
    let mut served = served;
    served.sort();
    assert_eq!(used, served, "handlers no function of the template runs");
}

#[test]
fn an_unknown_handler_fails_the_instance_at_start_and_names_the_known_ones() {
    let rota = rota_tests::binaries().join("rota");
    let out = std::process::Command::new(&rota)
        .env("_HANDLER", "no-such-endpoint")
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("no-such-endpoint"), "{stderr}");
    assert!(stderr.contains("users-me-get"), "{stderr}");
}

/// What keeps a template from deploying on a new account, or from capping the costly
/// functions once the quota allows: a literal `ReservedConcurrentExecutions` (reserved whatever
/// the account's quota), a reservation not of the form `Fn::If [cond, Ref param, NoValue]` with
/// `cond` = the parameter is not 0, or such a parameter whose default reserves anything.
fn concurrency_findings(t: &Value) -> Vec<String> {
    let mut out = Vec::new();
    for (id, f) in of_type(t, "AWS::Serverless::Function") {
        let Some(reserved) = f["Properties"].get("ReservedConcurrentExecutions") else {
            continue;
        };
        let Some([cond, Value::Object(yes), no]) = reserved
            .get("Fn::If")
            .and_then(Value::as_array)
            .map(Vec::as_slice)
        else {
            out.push(format!(
                "{id}: ReservedConcurrentExecutions {reserved} is reserved whatever the \
                 account's quota (use a parameter, default 0, behind Fn::If)"
            ));
            continue;
        };
        let param = yes.get("Ref").and_then(Value::as_str).unwrap_or_default();
        let p = &t["Parameters"][param];
        if p.is_null() || no["Ref"] != "AWS::NoValue" {
            out.push(format!(
                "{id}: not Fn::If [cond, Ref <parameter>, Ref AWS::NoValue]"
            ));
            continue;
        }
        if p["Type"] != "Number"
            || p["Default"].as_i64() != Some(0)
            || p["MinValue"].as_i64() != Some(0)
        {
            out.push(format!(
                "{id}: {param} must be a Number, default 0 (no reservation), MinValue 0"
            ));
        }
        let expected = serde_json::json!({"Fn::Not": [{"Fn::Equals": [{"Ref": param}, "0"]}]});
        let cond = cond.as_str().unwrap_or_default();
        if t["Conditions"][cond] != expected {
            out.push(format!(
                "{id}: condition {cond} must be {expected} (0 would throttle every call)"
            ));
        }
    }
    out
}

#[test]
fn reserved_concurrency_is_a_parameter_no_new_account_refuses() {
    let t = template_passing(concurrency_findings);
    for (id, param) in RESERVED_CONCURRENCY {
        let reserved = &t["Resources"][id]["Properties"]["ReservedConcurrentExecutions"];
        assert_eq!(
            reserved["Fn::If"][1]["Ref"], *param,
            "{id} is not reserved by {param}"
        );
    }
    // By default nothing is reserved: a literal anywhere is a finding above, and every
    // parameter's default is 0.

    // The production values docs/operations.md gives fit a raised quota's reservable part.
    let docs = std::fs::read_to_string(repo_root().join("docs/operations.md")).unwrap();
    let mut total = 0;
    for (id, param) in RESERVED_CONCURRENCY {
        let row = docs
            .lines()
            .find(|l| l.starts_with(&format!("| `{param}` |")))
            .unwrap_or_else(|| panic!("docs/operations.md gives no production value for {param}"));
        let value: i64 = row
            .split('|')
            .nth(3)
            .unwrap()
            .trim()
            .parse()
            .unwrap_or_else(|_| panic!("{row}: the third column is the production value"));
        assert!(value > 0, "{id}: {value}");
        total += value;
    }
    assert!(
        total <= ACCOUNT_CONCURRENCY - UNRESERVED_MINIMUM,
        "{total} reserved in production: AWS keeps {UNRESERVED_MINIMUM} of {ACCOUNT_CONCURRENCY} unreserved"
    );
    // Functions fed by SQS are capped by their mapping's MaximumConcurrency, not by a
    // reservation; one below it would throttle the mapping.
    for (id, f) in of_type(&t, "AWS::Serverless::Function") {
        for (event, e) in f["Properties"]["Events"].as_object().into_iter().flatten() {
            if e["Type"] != "SQS" {
                continue;
            }
            let max = e["Properties"]["ScalingConfig"]["MaximumConcurrency"].as_i64();
            assert!(
                max.is_some_and(|m| m >= 2),
                "{id}.{event}: no MaximumConcurrency caps it"
            );
            assert!(
                f["Properties"]
                    .get("ReservedConcurrentExecutions")
                    .is_none(),
                "{id}: reserved concurrency besides its mapping's MaximumConcurrency"
            );
        }
    }
}

/// What CloudFormation refuses once a condition is false: a resource (or output) naming a
/// resource that condition leaves out (`Ref`, `Fn::GetAtt`, `${X}` in `Fn::Sub`, `DependsOn`)
/// without having the same `Condition`, or naming it only in the first branch of an `Fn::If`
/// on it.
fn conditional_reference_findings(t: &Value) -> Vec<String> {
    let conditional: std::collections::BTreeMap<&str, &str> = resources(t)
        .filter_map(|(id, r)| Some((id.as_str(), r["Condition"].as_str()?)))
        .collect();
    /// Every resource `v` names, with the `Fn::If` conditions it is named under.
    fn named<'a>(v: &'a Value, under: &mut Vec<&'a str>, out: &mut Vec<(String, Vec<String>)>) {
        let mut found = |name: &str, under: &[&str]| {
            let id = name.split('.').next().unwrap_or_default().to_string();
            out.push((id, under.iter().map(|c| c.to_string()).collect()));
        };
        match v {
            Value::Array(items) => items.iter().for_each(|i| named(i, under, out)),
            Value::Object(m) => {
                if let Some(Value::Array(args)) = m.get("Fn::If")
                    && let [cond, yes, no] = args.as_slice()
                {
                    under.push(cond.as_str().unwrap_or_default());
                    named(yes, under, out);
                    under.pop();
                    named(no, under, out);
                    return;
                }
                if let Some(Value::String(name)) = m.get("Ref") {
                    found(name, under);
                }
                if let Some(Value::Array(args)) = m.get("Fn::GetAtt")
                    && let Some(Value::String(name)) = args.first()
                {
                    found(name, under);
                }
                let sub = match m.get("Fn::Sub") {
                    Some(Value::String(s)) => Some(s.as_str()),
                    Some(Value::Array(args)) => args.first().and_then(Value::as_str),
                    _ => None,
                };
                for piece in sub.into_iter().flat_map(|s| s.split("${").skip(1)) {
                    if !piece.starts_with('!') {
                        found(piece.split('}').next().unwrap_or_default(), under);
                    }
                }
                m.values().for_each(|x| named(x, under, out));
            }
            _ => {}
        }
    }
    let mut out = Vec::new();
    let outputs = t["Outputs"].as_object().into_iter().flatten();
    for (id, r) in resources(t).chain(outputs) {
        let mut names = Vec::new();
        named(&r["Properties"], &mut Vec::new(), &mut names);
        named(&r["Value"], &mut Vec::new(), &mut names);
        for dep in one_or_many(&r["DependsOn"]) {
            names.push((dep.as_str().unwrap_or_default().to_string(), Vec::new()));
        }
        for (name, under) in names {
            let Some(cond) = conditional.get(name.as_str()) else {
                continue;
            };
            if r["Condition"] != *cond && !under.iter().any(|c| c == cond) {
                out.push(format!(
                    "{id} names {name}, which exists only under {cond}: give {id} `Condition: \
                     {cond}` or name {name} inside `Fn::If [{cond}, ...]`"
                ));
            }
        }
    }
    out
}

#[test]
fn what_names_a_conditional_resource_has_its_condition() {
    let t = template_passing(conditional_reference_findings);
    // The API reference is a deploy-time switch, on unless turned off (docs/operations.md).
    assert_eq!(t["Parameters"]["ApiDocs"]["Default"], "Enabled");
    assert_eq!(
        t["Conditions"]["ApiDocsEnabled"],
        serde_json::json!({"Fn::Equals": [{"Ref": "ApiDocs"}, "Enabled"]})
    );
    for id in ["DocsFunction", "DocsLogGroup"] {
        assert_eq!(t["Resources"][id]["Condition"], "ApiDocsEnabled", "{id}");
    }
    // Its routes' throttling goes with them: the stage refuses settings of a missing route.
    let settings = &t["Resources"]["RotaHttpApi"]["Properties"]["RouteSettings"];
    for route in ["GET /docs", "GET /docs/{asset}"] {
        assert_eq!(settings[route]["Fn::If"][0], "ApiDocsEnabled", "{route}");
        assert_eq!(
            settings[route]["Fn::If"][2]["Ref"], "AWS::NoValue",
            "{route}"
        );
    }
}

mod checkers_catch {
    use super::*;

    fn findings(reserved: &str) -> Vec<String> {
        let head = r#"Parameters:
  FnConcurrency: { Type: Number, Default: 0, MinValue: 0 }
  BigConcurrency: { Type: Number, Default: 20, MinValue: 0 }
Conditions:
  ReserveFn: !Not [!Equals [!Ref FnConcurrency, "0"]]
  Always: !Equals [a, a]"#;
        let reservation =
            format!("    Properties:\n      ReservedConcurrentExecutions: {reserved}");
        concurrency_findings(&with_function(head, "", &reservation))
    }

    #[test]
    fn a_reference_to_a_conditional_resource_without_its_condition_fails() {
        let text = |log_group: &str| {
            t(&format!(
                r#"Conditions:
  On: !Equals [a, a]
Resources:
  Fn:
    Type: AWS::Serverless::Function
    Condition: On
  Logs:
    Type: AWS::Logs::LogGroup
{log_group}
Outputs:
  Arn:
    Value: !If [On, !GetAtt Fn.Arn, none]
"#
            ))
        };
        let passing = [
            "    Condition: On\n    Properties: {LogGroupName: !Sub \"/aws/lambda/${Fn}\"}",
            "    Properties: {LogGroupName: !If [On, !Ref Fn, x]}",
            "    Properties: {LogGroupName: !Sub \"/aws/lambda/${!Fn}\"}",
        ];
        for ok in passing {
            assert_eq!(
                conditional_reference_findings(&text(ok)),
                Vec::<String>::new(),
                "{ok}"
            );
        }
        for bad in [
            "    Properties: {LogGroupName: !Sub \"/aws/lambda/${Fn}\"}",
            "    Properties: {LogGroupName: !Ref Fn}",
            "    Properties: {LogGroupName: !GetAtt Fn.Arn}",
            "    Properties: {LogGroupName: !If [On, x, !Ref Fn]}",
            "    DependsOn: Fn",
        ] {
            let found = conditional_reference_findings(&text(bad));
            assert!(
                found.iter().any(|f| f.contains("Logs names Fn")),
                "{bad}: {found:?}"
            );
        }
    }

    #[test]
    fn literal_and_default_reservations_fail_and_the_parameter_passes() {
        assert_eq!(
            findings("!If [ReserveFn, !Ref FnConcurrency, !Ref AWS::NoValue]"),
            Vec::<String>::new()
        );
        for (bad, why) in [
            ("20", "whatever the account's quota"),
            ("!Ref FnConcurrency", "whatever the account's quota"),
            (
                "!If [ReserveFn, !Ref BigConcurrency, !Ref AWS::NoValue]",
                "default 0",
            ),
            (
                "!If [Always, !Ref FnConcurrency, !Ref AWS::NoValue]",
                "would throttle",
            ),
            ("!If [ReserveFn, !Ref FnConcurrency, 5]", "AWS::NoValue"),
        ] {
            let found = findings(bad);
            assert!(
                found.iter().any(|f| f.contains(why)),
                "{bad}: expected {why:?} in {found:?}"
            );
        }
    }
}

/// The functions that trace (X-Ray, `Tracing: Active`) without a deploy-time switch: few
/// calls each, where a trace answers something (argon2id, roadmap generation, the jobs).
const TRACED: &[&str] = &[
    "AuthRegisterFunction",
    "AuthLoginFunction",
    "RoadmapsCreateFunction",
    "RemindersSchedulerFunction",
    "RemindersWorkerFunction",
];

/// The largest share of the day's API calls the traced routes may carry.
const TRACED_SHARE_MAX: f64 = 0.02;

#[test]
fn tracing_is_sampled_by_function() {
    let t = template();
    // Lambda's own sampling cannot be configured (the first call each second plus 5 %:
    // about half of Rota's calls): the rest traces only when deployed with TracingMode=Active.
    assert_eq!(t["Globals"]["Function"]["Tracing"]["Ref"], "TracingMode");
    let mode = &t["Parameters"]["TracingMode"];
    assert_eq!(mode["Default"], "PassThrough");
    let allowed: Vec<_> = one_or_many(&mode["AllowedValues"])
        .into_iter()
        .filter_map(Value::as_str)
        .collect();
    assert_eq!(allowed, ["PassThrough", "Active"]);
    for (id, f) in of_type(&t, "AWS::Serverless::Function") {
        let tracing = &f["Properties"]["Tracing"];
        if TRACED.contains(&id.as_str()) {
            assert_eq!(tracing, "Active", "{id}");
        } else {
            assert!(tracing.is_null(), "{id} sets its own Tracing: {tracing}");
        }
    }
    // The traced routes carry a small share of the calls (bench/endpoints.json, the cost
    // model's input): Lambda's reservoir of one trace a second records about all of them and
    // no more (scripts/cost_model.py prices it).
    let endpoints: Value = serde_json::from_str(
        &std::fs::read_to_string(repo_root().join("bench/endpoints.json")).unwrap(),
    )
    .unwrap();
    let (mut traced, mut total) = (0.0, 0.0);
    for e in endpoints["endpoints"].as_object().unwrap().values() {
        let share = e["share"].as_f64().unwrap();
        total += share;
        if TRACED.contains(&e["function"].as_str().unwrap()) {
            traced += share;
        }
    }
    assert!(traced > 0.0, "no traced route");
    assert!(
        traced / total <= TRACED_SHARE_MAX,
        "traced routes carry {:.1} % of the calls",
        100.0 * traced / total
    );
}

/// Every place the template mentions `var`: a key or a string anywhere (an environment
/// variable of a function or of Globals, or one built by an intrinsic).
fn mentions(v: &Value, var: &str, at: &str, found: &mut Vec<String>) {
    match v {
        Value::String(s) if s.contains(var) => found.push(at.to_owned()),
        Value::Array(items) => {
            for (i, item) in items.iter().enumerate() {
                mentions(item, var, &format!("{at}[{i}]"), found);
            }
        }
        Value::Object(m) => {
            for (k, item) in m {
                let here = format!("{at}.{k}");
                if k.contains(var) {
                    found.push(here.clone());
                }
                mentions(item, var, &here, found);
            }
        }
        _ => {}
    }
}

/// The reminders' local clock knob (`make reminders-now AT=…`) is honoured only with the
/// variable rota-local sets: the template never mentions it, so no deployed function, nor the
/// Globals they all share, can be switched into it.
#[test]
fn no_deployed_function_can_turn_on_the_local_clock() {
    let var = rota_api::reminders::LOCAL_CLOCK_ENV;
    let mut found = Vec::new();
    mentions(&template(), var, "", &mut found);
    assert_eq!(found, Vec::<String>::new());
    assert!(!template_text().contains(var));
    // The check finds it where it could hide.
    let snippet = template_json(&format!(
        "Globals:\n  Function:\n    Environment:\n      Variables:\n        {var}: '1'\nResources:\n  \
         F:\n    Type: AWS::Serverless::Function\n    Properties:\n      Environment:\n        \
         Variables:\n          X: !Sub '${{AWS::Region}}{var}'\n"
    ))
    .unwrap();
    let mut found = Vec::new();
    mentions(&snippet, var, "", &mut found);
    assert_eq!(found.len(), 2, "{found:?}");
}

/// The reminder worker paces its emails at `floor(SesSendRate / MAIL_SENDERS)` a second per
/// instance (shared/api/src/email.rs): that holds the account's rate only while MAIL_SENDERS
/// is the mapping's MaximumConcurrency, and an invocation's batch of emails must fit in its
/// timeout, with the queue's visibility timeout the 6 × timeout Lambda asks of SQS sources.
#[test]
fn the_reminder_emails_of_a_batch_fit_the_workers_timeout_at_the_ses_rate() {
    let t = template();
    let worker = &t["Resources"]["RemindersWorkerFunction"]["Properties"];
    let queue = &worker["Events"]["Queue"]["Properties"];
    let number = |v: &Value| -> i64 {
        v.as_i64()
            .or_else(|| v.as_str().and_then(|s| s.parse().ok()))
            .unwrap_or_else(|| panic!("not a number: {v}"))
    };
    let senders = number(&worker["Environment"]["Variables"]["MAIL_SENDERS"]);
    assert_eq!(
        senders,
        number(&queue["ScalingConfig"]["MaximumConcurrency"])
    );
    assert_eq!(
        worker["Environment"]["Variables"]["SES_SEND_RATE"]["Ref"],
        "SesSendRate"
    );
    let rate = number(&t["Parameters"]["SesSendRate"]["Default"]);
    let min_rate = number(&t["Parameters"]["SesSendRate"]["MinValue"]);
    assert!(
        min_rate >= senders,
        "every instance gets at least one send a second"
    );
    let per_instance = rate / senders;
    let users = number(&queue["BatchSize"]) * rota_api::reminders::USERS_PER_MESSAGE as i64;
    let sending_secs = users / per_instance;
    let timeout = number(&worker["Timeout"]);
    // Half the timeout for the rest (DynamoDB, a slow SES answer).
    assert!(
        sending_secs * 2 <= timeout,
        "{users} emails at {per_instance}/s take {sending_secs} s; the timeout is {timeout} s"
    );
    let visibility = number(&t["Resources"]["RemindersQueue"]["Properties"]["VisibilityTimeout"]);
    assert!(visibility >= 6 * timeout, "{visibility} < 6 × {timeout}");
}
