//! `template.yaml` against the operations and security rules (issue 7, docs/operations.md):
//! least-privilege IAM text, no plain secrets in function environments, reserved concurrency,
//! tracing, backups, alarms, the dashboard and CORS. No stack needed: the template is read
//! with the local stack's parser (CloudFormation short tags in their long form).
//!
//! Every checker is also run on small bad snippets (module `checkers_catch`), so a check that
//! silently stopped finding anything would fail here too.
//!
//! Out of reach of a text check: the AWS managed policies SAM attaches to every function role
//! (AWSLambdaBasicExecutionRole, AWSXrayWriteOnlyAccess, AWSLambdaVPCAccessExecutionRole for
//! VPC functions) and the ones named in `MANAGED_POLICIES_ALLOWED`.

use std::collections::BTreeSet;

use rota_local::template::{Template, template_json};
use rota_tests::repo_root;
use serde_json::Value;

/// Actions AWS offers no resource-level permissions for, so `Resource: "*"` is the only way
/// to grant them. Nothing else may name a resource with a wildcard.
const RESOURCE_WILDCARD_ALLOWED: &[(&str, &str)] = &[
    (
        "xray:PutTraceSegments",
        "X-Ray actions have no resource-level permissions",
    ),
    (
        "xray:PutTelemetryRecords",
        "X-Ray actions have no resource-level permissions",
    ),
    (
        "cloudwatch:PutMetricData",
        "no resource-level permissions (narrow with the cloudwatch:namespace condition); the \
         functions use EMF log lines instead",
    ),
];

/// AWS managed policies a template role may attach (their text is AWS's, not ours).
const MANAGED_POLICIES_ALLOWED: &[(&str, &str)] = &[
    (
        "AWSBackupServiceRolePolicyForBackup",
        "the role AWS Backup assumes to snapshot the table (AWS's own least-privilege policy)",
    ),
    (
        "AWSBackupServiceRolePolicyForRestores",
        "the same role restoring a snapshot into a new table",
    ),
];

/// The functions whose cost (argon2id, big writes, stats queries, queue fan-out) must not be
/// able to take the account's whole concurrency pool.
const RESERVED_CONCURRENCY: &[&str] = &[
    "AuthRegisterFunction",
    "AuthLoginFunction",
    "RoadmapsCreateFunction",
    "CommunityStatsFunction",
    "RemindersWorkerFunction",
];

/// Lambda's default account concurrency and the part AWS keeps unreserved.
const ACCOUNT_CONCURRENCY: i64 = 1000;
const UNRESERVED_MINIMUM: i64 = 100;

/// The owner's p95 latency targets per route key (milliseconds).
const LATENCY_TARGETS: &[(&str, i64)] = &[
    ("POST /api/auth/register", 200),
    ("POST /api/auth/login", 200),
    ("POST /api/auth/refresh", 200),
    ("POST /api/auth/logout", 200),
    ("GET /api/community/posts", 500),
    ("POST /api/community/posts", 500),
    ("GET /api/community/posts/{id}", 500),
    ("GET /api/dashboard", 300),
    ("POST /api/roadmaps", 5000),
];

fn template_text() -> String {
    std::fs::read_to_string(repo_root().join("template.yaml")).expect("template.yaml")
}

fn template() -> Value {
    template_json(&template_text()).expect("template.yaml parses")
}

fn resources(t: &Value) -> impl Iterator<Item = (&String, &Value)> {
    t["Resources"].as_object().into_iter().flatten()
}

fn of_type<'a>(t: &'a Value, kind: &'a str) -> impl Iterator<Item = (&'a String, &'a Value)> {
    resources(t).filter(move |(_, r)| r["Type"] == kind)
}

// ---------------------------------------------------------------------------------------------
// Checkers
// ---------------------------------------------------------------------------------------------

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

/// What is wrong with one policy statement (`place` names it in the findings).
fn statement_findings(t: &Value, place: &str, stmt: &Value, trust: bool) -> Vec<String> {
    let mut out = Vec::new();
    for stmt in branches(stmt) {
        if stmt["Effect"] == "Deny" {
            continue; // wildcards narrow nothing down in a Deny: they only deny more
        }
        if stmt.get("NotAction").is_some() || stmt.get("NotResource").is_some() {
            out.push(format!(
                "{place}: Allow with NotAction/NotResource grants everything else"
            ));
        }
        let mut actions = Vec::new();
        for a in one_or_many(&stmt["Action"]) {
            match a.as_str() {
                Some(a) => actions.push(a.to_string()),
                None => out.push(format!("{place}: action {a} is not a literal")),
            }
        }
        if actions.is_empty() && stmt.get("NotAction").is_none() {
            out.push(format!("{place}: statement has no Action"));
        }
        for a in &actions {
            if a == "*" || a.ends_with(":*") {
                out.push(format!("{place}: wildcard action {a}"));
            } else if a.contains('*') || a.contains('?') {
                out.push(format!("{place}: action pattern {a} (name the actions)"));
            }
        }
        if trust {
            continue; // trust policies name principals, not resources
        }
        let resources = one_or_many(&stmt["Resource"]);
        if resources.is_empty() {
            out.push(format!("{place}: statement has no Resource"));
        }
        let wildcard = resources
            .iter()
            .flat_map(|r| branches(r))
            .any(|r| literal_text(t, r).contains('*'));
        if wildcard {
            let exempt = !actions.is_empty()
                && actions
                    .iter()
                    .all(|a| RESOURCE_WILDCARD_ALLOWED.iter().any(|(x, _)| x == a));
            if !exempt {
                out.push(format!(
                    "{place}: resource with a wildcard for {}",
                    actions.join(", ")
                ));
            }
        }
    }
    out
}

fn document_findings(t: &Value, place: &str, doc: &Value, trust: bool) -> Vec<String> {
    let mut out = Vec::new();
    for doc in branches(doc) {
        let stmts = one_or_many(&doc["Statement"]);
        if stmts.is_empty() {
            out.push(format!("{place}: policy document has no Statement"));
        }
        for (i, s) in stmts.into_iter().enumerate() {
            out.extend(statement_findings(t, &format!("{place}[{i}]"), s, trust));
        }
    }
    out
}

fn managed_policy_findings(place: &str, arns: &Value) -> Vec<String> {
    one_or_many(arns)
        .into_iter()
        .flat_map(branches)
        .filter_map(|arn| {
            let text = match arn {
                Value::String(s) => s.clone(),
                other => literal_text(&Value::Null, other),
            };
            let name = text.rsplit('/').next().unwrap_or_default();
            (!MANAGED_POLICIES_ALLOWED.iter().any(|(n, _)| *n == name))
                .then(|| format!("{place}: managed policy {text} is not in the allow-list"))
        })
        .collect()
}

/// Every IAM policy text in the template: functions' `Policies`, roles' inline policies,
/// trust policies and managed-policy attachments, `AWS::IAM::Policy` / `ManagedPolicy`.
fn iam_findings(t: &Value) -> Vec<String> {
    let mut out = Vec::new();
    let mut functions: Vec<(String, &Value)> = resources(t)
        .filter(|(_, r)| r["Type"] == "AWS::Serverless::Function")
        .map(|(id, r)| (id.clone(), &r["Properties"]))
        .collect();
    functions.push(("Globals.Function".into(), &t["Globals"]["Function"]));
    for (id, props) in functions {
        for (i, p) in one_or_many(&props["Policies"]).into_iter().enumerate() {
            for p in branches(p) {
                let place = format!("{id}.Policies[{i}]");
                if p.get("Statement").is_some() {
                    out.extend(document_findings(t, &place, p, false));
                } else {
                    // A managed policy name/ARN or a SAM policy template: their text is not
                    // here to check, and the convention is inline statements per function.
                    out.push(format!(
                        "{place}: {p} is not an inline statement list (write the statements)"
                    ));
                }
            }
        }
    }
    for (id, r) in resources(t) {
        let props = &r["Properties"];
        match r["Type"].as_str().unwrap_or_default() {
            "AWS::IAM::Role" => {
                out.extend(document_findings(
                    t,
                    &format!("{id}.AssumeRolePolicyDocument"),
                    &props["AssumeRolePolicyDocument"],
                    true,
                ));
                for (i, p) in one_or_many(&props["Policies"]).into_iter().enumerate() {
                    out.extend(document_findings(
                        t,
                        &format!("{id}.Policies[{i}]"),
                        &p["PolicyDocument"],
                        false,
                    ));
                }
                out.extend(managed_policy_findings(
                    &format!("{id}.ManagedPolicyArns"),
                    &props["ManagedPolicyArns"],
                ));
            }
            "AWS::IAM::Policy" | "AWS::IAM::ManagedPolicy" | "AWS::IAM::RolePolicy" => {
                out.extend(document_findings(
                    t,
                    &format!("{id}.PolicyDocument"),
                    &props["PolicyDocument"],
                    false,
                ));
            }
            "AWS::IAM::User" | "AWS::IAM::AccessKey" | "AWS::IAM::Group" => {
                out.push(format!(
                    "{id}: IAM users, groups and access keys do not belong in the stack"
                ));
            }
            _ => {}
        }
    }
    out
}

/// Whether a variable name says its value is a secret.
fn secret_name(name: &str) -> bool {
    let upper = name.to_ascii_uppercase();
    [
        "SECRET",
        "PASSWORD",
        "PASSWD",
        "TOKEN",
        "KEY",
        "PRIVATE",
        "CREDENTIAL",
    ]
    .iter()
    .any(|w| upper.contains(w))
}

/// Whether a literal is a reference to where a secret lives, not the secret: an SSM
/// parameter name or an ARN (SSM, Secrets Manager, KMS).
fn secret_reference(value: &str) -> bool {
    let v = value.trim();
    (v.starts_with('/') && !v.contains(char::is_whitespace))
        || v.starts_with("arn:")
        || v.is_empty()
}

/// Whether a literal looks like key material whatever the variable is called.
fn looks_like_key(value: &str) -> bool {
    let v = value.trim();
    let aws_key = ["AKIA", "ASIA"].iter().any(|p| {
        v.split(|c: char| !c.is_ascii_alphanumeric()).any(|w| {
            w.len() == 20
                && w.starts_with(p)
                && w.chars()
                    .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit())
        })
    });
    let pem = v.contains("-----BEGIN");
    let jwt = v.starts_with("eyJ") && v.matches('.').count() == 2;
    let known_prefix = ["ghp_", "github_pat_", "xoxb-", "xoxp-", "sk_live_", "sk-"]
        .iter()
        .any(|p| v.starts_with(p) && v.len() > 20);
    // scheme://user:password@host
    let url_credentials = v.split_once("://").is_some_and(|(_, rest)| {
        let authority = rest.split('/').next().unwrap_or_default();
        authority
            .split_once('@')
            .is_some_and(|(user, _)| user.contains(':'))
    });
    let high_entropy = v.len() >= 32
        && v.chars()
            .all(|c| c.is_ascii_alphanumeric() || "+/=_-".contains(c))
        && v.chars().any(|c| c.is_ascii_uppercase())
        && v.chars().any(|c| c.is_ascii_lowercase())
        && v.chars().any(|c| c.is_ascii_digit());
    aws_key || pem || jwt || known_prefix || url_credentials || high_entropy
}

fn variable_findings(t: &Value, place: &str, name: &str, value: &Value) -> Vec<String> {
    let mut out = Vec::new();
    for v in branches(value) {
        let text = literal_text(t, v);
        if looks_like_key(&text) {
            out.push(format!("{place}.{name}: value looks like key material"));
        }
        if !secret_name(name) {
            continue;
        }
        match v {
            Value::String(_) | Value::Number(_) | Value::Bool(_) => {
                let literal = v.as_str().map_or_else(|| v.to_string(), str::to_string);
                if !secret_reference(&literal) {
                    out.push(format!(
                        "{place}.{name}: secret-looking variable holds a literal (store it in \
                         SSM and pass the parameter's name)"
                    ));
                }
            }
            Value::Object(m) if m.contains_key("Ref") => {
                // A parameter's value lands in the environment as is: it must be a reference.
                let param = m["Ref"].as_str().and_then(|p| t["Parameters"].get(p));
                if let Some(p) = param
                    && !secret_reference(&literal_text(t, v))
                {
                    out.push(format!(
                        "{place}.{name}: parameter {} holds the secret itself{}",
                        m["Ref"],
                        if p["NoEcho"] == true {
                            " (NoEcho hides it from the console, not from the function's \
                             configuration)"
                        } else {
                            ""
                        }
                    ));
                }
            }
            Value::Object(m)
                if (m.contains_key("Fn::Sub") || m.contains_key("Fn::Join"))
                    && !secret_reference(&text) =>
            {
                out.push(format!(
                    "{place}.{name}: secret-looking variable is built from literal text"
                ));
            }
            _ => {}
        }
    }
    out
}

/// Plain secrets in any function's or `Globals`' environment.
fn secret_findings(t: &Value) -> Vec<String> {
    let mut out = Vec::new();
    let mut envs: Vec<(String, &Value)> = vec![(
        "Globals.Function".into(),
        &t["Globals"]["Function"]["Environment"]["Variables"],
    )];
    for (id, r) in resources(t) {
        if matches!(
            r["Type"].as_str(),
            Some("AWS::Serverless::Function" | "AWS::Lambda::Function")
        ) {
            envs.push((id.clone(), &r["Properties"]["Environment"]["Variables"]));
        }
    }
    for (place, vars) in envs {
        for (name, value) in vars.as_object().into_iter().flatten() {
            out.extend(variable_findings(t, &place, name, value));
        }
    }
    out
}

// ---------------------------------------------------------------------------------------------
// The real template
// ---------------------------------------------------------------------------------------------

#[test]
fn iam_statements_name_their_actions_and_resources() {
    let t = template();
    // The walk reaches the statements (a checker that found no policies would pass anything).
    let statements: usize = of_type(&t, "AWS::Serverless::Function")
        .flat_map(|(_, f)| one_or_many(&f["Properties"]["Policies"]))
        .map(|p| one_or_many(&p["Statement"]).len())
        .sum();
    assert!(statements > 50, "{statements} statements");
    let findings = iam_findings(&t);
    assert!(
        findings.is_empty(),
        "IAM findings:\n{}",
        findings.join("\n")
    );
}

#[test]
fn the_jwt_secret_key_grant_exists_only_for_a_customer_managed_key() {
    // aws/ssm lets the account's principals decrypt through SSM: no kms:Decrypt is needed,
    // and the one for a customer key names that key alone (docs/operations.md).
    let t = template();
    assert_eq!(t["Parameters"]["JwtSecretKmsKeyArn"]["Default"], "");
    for (id, f) in of_type(&t, "AWS::Serverless::Function") {
        for p in one_or_many(&f["Properties"]["Policies"]) {
            for s in one_or_many(&p["Statement"]) {
                let text = s.to_string();
                if text.contains("kms:") {
                    let args = s["Fn::If"].as_array().unwrap_or_else(|| {
                        panic!("{id}: a kms statement outside Fn::If HasJwtSecretKmsKey")
                    });
                    assert_eq!(args[0], "HasJwtSecretKmsKey", "{id}");
                    assert_eq!(args[1]["Resource"]["Ref"], "JwtSecretKmsKeyArn", "{id}");
                    assert_eq!(args[2]["Ref"], "AWS::NoValue", "{id}");
                }
            }
        }
    }
}

#[test]
fn function_environments_hold_no_secrets() {
    let findings = secret_findings(&template());
    assert!(
        findings.is_empty(),
        "secret findings:\n{}",
        findings.join("\n")
    );
}

#[test]
fn costly_functions_have_reserved_concurrency_within_the_account_pool() {
    let t = template();
    let mut reserved_total = 0;
    for (id, f) in of_type(&t, "AWS::Serverless::Function") {
        if let Some(n) = f["Properties"].get("ReservedConcurrentExecutions") {
            let n = n.as_i64().unwrap_or_else(|| panic!("{id}: not a number"));
            assert!(n > 0, "{id}: 0 would disable the function");
            reserved_total += n;
        }
    }
    for id in RESERVED_CONCURRENCY {
        let props = &t["Resources"][id]["Properties"];
        assert!(
            props["ReservedConcurrentExecutions"].as_i64().is_some(),
            "{id} has no ReservedConcurrentExecutions"
        );
    }
    assert!(
        reserved_total <= ACCOUNT_CONCURRENCY - UNRESERVED_MINIMUM,
        "{reserved_total} reserved: AWS keeps {UNRESERVED_MINIMUM} of {ACCOUNT_CONCURRENCY} unreserved"
    );
    // An SQS source's MaximumConcurrency above the reserved concurrency would throttle it.
    for (id, f) in of_type(&t, "AWS::Serverless::Function") {
        for e in f["Properties"]["Events"].as_object().into_iter().flatten() {
            let max = &e.1["Properties"]["ScalingConfig"]["MaximumConcurrency"];
            if let (Some(max), Some(reserved)) = (
                max.as_i64(),
                f["Properties"]["ReservedConcurrentExecutions"].as_i64(),
            ) {
                assert!(
                    max <= reserved,
                    "{id}: MaximumConcurrency {max} > {reserved}"
                );
            }
        }
    }
}

#[test]
fn functions_are_traced_with_x_ray() {
    let t = template();
    assert_eq!(t["Globals"]["Function"]["Tracing"], "Active");
    for (id, f) in of_type(&t, "AWS::Serverless::Function") {
        let tracing = &f["Properties"]["Tracing"];
        assert!(
            tracing.is_null() || tracing == "Active",
            "{id} turns tracing off"
        );
    }
}

#[test]
fn the_table_is_protected_and_backed_up() {
    let t = template();
    let table = &t["Resources"]["RotaTable"];
    assert_eq!(table["DeletionPolicy"], "Retain");
    assert_eq!(table["Properties"]["DeletionProtectionEnabled"], true);
    assert_eq!(
        table["Properties"]["PointInTimeRecoverySpecification"]["PointInTimeRecoveryEnabled"],
        true
    );

    let (_, selection) = of_type(&t, "AWS::Backup::BackupSelection")
        .next()
        .expect("a backup selection");
    let sel = &selection["Properties"]["BackupSelection"];
    assert!(
        one_or_many(&sel["Resources"])
            .iter()
            .any(|r| r["Fn::GetAtt"] == serde_json::json!(["RotaTable", "Arn"])),
        "the selection does not name RotaTable: {sel}"
    );
    let role_id = sel["IamRoleArn"]["Fn::GetAtt"][0]
        .as_str()
        .expect("a role of the stack");
    let role = &t["Resources"][role_id];
    assert_eq!(role["Type"], "AWS::IAM::Role");
    assert!(
        role["Properties"]["ManagedPolicyArns"]
            .to_string()
            .contains("service-role/AWSBackupServiceRolePolicyForBackup")
    );
    assert!(
        role["Properties"]["AssumeRolePolicyDocument"]
            .to_string()
            .contains("backup.amazonaws.com")
    );

    let plan_id = selection["Properties"]["BackupPlanId"]["Ref"]
        .as_str()
        .unwrap();
    let rules = &t["Resources"][plan_id]["Properties"]["BackupPlan"]["BackupPlanRule"];
    let kept: Vec<(String, i64)> = one_or_many(rules)
        .into_iter()
        .map(|r| {
            (
                r["ScheduleExpression"].as_str().unwrap().to_string(),
                r["Lifecycle"]["DeleteAfterDays"].as_i64().unwrap(),
            )
        })
        .collect();
    assert!(
        kept.contains(&("cron(0 3 * * ? *)".into(), 35)),
        "daily, 35 days: {kept:?}"
    );
    assert!(
        kept.iter()
            .any(|(cron, days)| cron.contains(" 1 * ? *") && *days >= 365),
        "monthly, a year: {kept:?}"
    );
    let vault = one_or_many(rules)[0]["TargetBackupVault"]["Ref"]
        .as_str()
        .unwrap();
    assert_eq!(t["Resources"][vault]["DeletionPolicy"], "Retain");
}

fn alarms(t: &Value) -> Vec<(&String, &Value)> {
    of_type(t, "AWS::CloudWatch::Alarm").collect()
}

#[test]
fn every_alarm_notifies_the_alarm_topic_which_cloudwatch_can_use() {
    let t = template();
    let all = alarms(&t);
    assert!(all.len() >= 15, "{} alarms", all.len());
    for (id, a) in &all {
        assert!(
            one_or_many(&a["Properties"]["AlarmActions"])
                .iter()
                .any(|x| x["Ref"] == "AlarmTopic"),
            "{id} does not notify AlarmTopic"
        );
    }
    // CloudWatch cannot publish to a topic under the AWS managed aws/sns key.
    let key = &t["Resources"]["AlarmTopic"]["Properties"]["KmsMasterKeyId"];
    assert_eq!(key["Ref"], "AlarmTopicKey", "{key}");
    let policy = t["Resources"]["AlarmTopicKey"]["Properties"]["KeyPolicy"].to_string();
    assert!(policy.contains("cloudwatch.amazonaws.com"));
}

#[test]
fn latency_alarms_watch_real_routes_at_the_owners_targets() {
    let t = template();
    let routes: BTreeSet<String> = Template::parse(&template_text())
        .unwrap()
        .routes()
        .iter()
        .map(|r| r.route_key())
        .collect();
    // Route dimensions exist only with detailed metrics on.
    assert_eq!(
        t["Resources"]["RotaHttpApi"]["Properties"]["DefaultRouteSettings"]["DetailedMetricsEnabled"],
        true
    );
    for (route, ms) in LATENCY_TARGETS {
        assert!(routes.contains(*route), "{route} is not a route");
        let found = alarms(&t).into_iter().find(|(_, a)| {
            let p = &a["Properties"];
            p["MetricName"] == "Latency"
                && one_or_many(&p["Dimensions"])
                    .iter()
                    .any(|d| d["Name"] == "Route" && d["Value"] == *route)
        });
        let (id, a) = found.unwrap_or_else(|| panic!("no latency alarm for {route}"));
        let p = &a["Properties"];
        assert_eq!(p["ExtendedStatistic"], "p95", "{id}");
        assert_eq!(p["Threshold"].as_i64(), Some(*ms), "{id}");
        assert_eq!(p["Namespace"], "AWS/ApiGateway", "{id}");
        let dims: BTreeSet<&str> = one_or_many(&p["Dimensions"])
            .iter()
            .filter_map(|d| d["Name"].as_str())
            .collect();
        assert_eq!(dims, BTreeSet::from(["ApiId", "Stage", "Route"]), "{id}");
    }
}

#[test]
fn error_rate_throttling_and_reminder_alarms_exist() {
    let t = template();
    let all = alarms(&t);
    let find = |pred: &dyn Fn(&Value) -> bool, what: &str| -> Value {
        all.iter()
            .find(|(_, a)| pred(&a["Properties"]))
            .unwrap_or_else(|| panic!("no alarm for {what}"))
            .1["Properties"]
            .clone()
    };
    let rate = find(
        &|p| p["Metrics"].to_string().contains("\"5xx\""),
        "the 5xx rate",
    );
    assert_eq!(rate["Threshold"].as_f64(), Some(0.5));
    let expr = one_or_many(&rate["Metrics"])
        .into_iter()
        .find(|m| m["ReturnData"] == true)
        .expect("a returned expression");
    assert!(expr["Expression"].as_str().unwrap().contains("100 * "));

    find(
        &|p| p["Namespace"] == "AWS/Lambda" && p["MetricName"] == "Throttles",
        "Lambda throttles",
    );
    let ddb = find(
        &|p| p["Metrics"].to_string().contains("WriteThrottleEvents"),
        "DynamoDB throttles",
    );
    assert!(
        one_or_many(&ddb["Metrics"]).len() <= 11,
        "alarms take 10 metrics"
    );
    find(
        &|p| p["MetricName"] == "GatewayThrottles",
        "API Gateway's own 429s",
    );
    find(
        &|p| {
            p["MetricName"] == "ApproximateNumberOfMessagesVisible"
                && p["Dimensions"]
                    .to_string()
                    .contains("RemindersDeadLetterQueue")
        },
        "the reminders DLQ",
    );
    let missed = find(
        &|p| {
            p["MetricName"] == "Invocations"
                && p["Dimensions"]
                    .to_string()
                    .contains("RemindersSchedulerFunction")
        },
        "a missed reminder run",
    );
    assert_eq!(missed["TreatMissingData"], "breaching");
    assert_eq!(missed["ComparisonOperator"], "LessThanThreshold");
    assert!(
        missed["Period"].as_i64().unwrap() * missed["EvaluationPeriods"].as_i64().unwrap() <= 7200
    );
    find(
        &|p| p["MetricName"] == "ApproximateAgeOfOldestMessage",
        "late reminder batches",
    );

    // The gateway-throttle metric is made from the access log's fields.
    let filter = of_type(&t, "AWS::Logs::MetricFilter")
        .next()
        .expect("a metric filter")
        .1;
    let format = t["Resources"]["RotaHttpApi"]["Properties"]["AccessLogSettings"]["Format"]
        .as_str()
        .unwrap();
    let log: Value = serde_json::from_str(format).expect("the access log format is JSON");
    for field in ["status", "integrationStatus", "apiId"] {
        assert!(log.get(field).is_some(), "access log lacks {field}");
        assert!(
            filter["Properties"]
                .to_string()
                .contains(&format!("$.{field}")),
            "the filter does not use {field}"
        );
    }
}

/// The dashboard body with every `${...}` replaced, and the names it substitutes.
fn dashboard(t: &Value) -> (Value, Vec<String>) {
    let (_, d) = of_type(t, "AWS::CloudWatch::Dashboard")
        .next()
        .expect("a dashboard");
    let body = d["Properties"]["DashboardBody"]["Fn::Sub"]
        .as_str()
        .expect("DashboardBody is one Fn::Sub string");
    let mut names = Vec::new();
    let mut out = String::new();
    let mut rest = body;
    while let Some(start) = rest.find("${") {
        out.push_str(&rest[..start]);
        let end = rest[start..].find('}').expect("closed ${") + start;
        names.push(rest[start + 2..end].to_string());
        out.push_str("SUBSTITUTED");
        rest = &rest[end + 1..];
    }
    out.push_str(rest);
    let json = serde_json::from_str(&out).unwrap_or_else(|e| panic!("dashboard JSON: {e}"));
    (json, names)
}

#[test]
fn the_dashboard_is_valid_json_with_every_kpi() {
    let t = template();
    let (body, names) = dashboard(&t);
    for name in &names {
        let base = name.split('.').next().unwrap();
        assert!(
            base.starts_with("AWS::")
                || t["Resources"].get(base).is_some()
                || t["Parameters"].get(base).is_some(),
            "dashboard substitutes unknown {name}"
        );
    }
    let widgets = body["widgets"].as_array().expect("widgets");
    let text = body.to_string();
    for kpi in [
        "ActiveUsers24h",
        "ActiveUsers30d",
        "CacheHits",
        "CacheMisses",
        "Latency",
        "'p95'",
        "'p99'",
        "4xx",
        "5xx",
        "Errors",
        "Throttles",
        "ConcurrentExecutions",
        "Duration",
        "ColdStart",
        "ConsumedReadCapacityUnits",
        "ConsumedWriteCapacityUnits",
        "ThrottleEvents",
        "ApproximateAgeOfOldestMessage",
        "ReminderLagSeconds",
        "GatewayThrottles",
    ] {
        assert!(text.contains(kpi), "the dashboard lacks {kpi}");
    }
    for queue in [
        "RemindersQueue.QueueName",
        "RemindersDeadLetterQueue.QueueName",
    ] {
        assert!(
            names.iter().any(|n| n == queue),
            "the dashboard lacks {queue}"
        );
    }
    // Widgets stay on the 24-column grid.
    for w in widgets {
        let (x, width) = (w["x"].as_i64().unwrap(), w["width"].as_i64().unwrap());
        assert!(x >= 0 && width > 0 && x + width <= 24, "{w}");
    }
    // The alarm widget lists every alarm of the template.
    let listed = names.iter().filter(|n| n.ends_with("Alarm.Arn")).count();
    assert!(listed >= alarms(&t).len(), "alarm widget lists {listed}");
}

/// The metric names the dashboard reads from the functions' EMF namespace.
fn emf_metric_names(body: &Value) -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    fn walk(v: &Value, names: &mut BTreeSet<String>) {
        match v {
            Value::Array(items) => {
                if items.first().and_then(Value::as_str) == Some("Rota")
                    && let Some(name) = items.get(1).and_then(Value::as_str)
                {
                    names.insert(name.to_string());
                }
                items.iter().for_each(|i| walk(i, names));
            }
            Value::Object(m) => {
                if let Some(e) = m.get("expression").and_then(Value::as_str)
                    && e.contains("{Rota,")
                    && let Some((_, after)) = e.split_once("MetricName=\"")
                {
                    names.insert(after.split('"').next().unwrap().to_string());
                }
                m.values().for_each(|i| walk(i, names));
            }
            _ => {}
        }
    }
    walk(body, &mut names);
    names
}

#[test]
fn the_dashboard_reads_metrics_the_functions_emit() {
    let t = template();
    let (body, _) = dashboard(&t);
    let names = emf_metric_names(&body);
    assert!(names.len() >= 8, "{names:?}");
    let mut source = String::new();
    for dir in [
        "shared/api/src",
        "shared/api/src/handlers",
        "shared/lambda/src",
        "shared/store/src",
    ] {
        for entry in std::fs::read_dir(repo_root().join(dir)).unwrap() {
            let path = entry.unwrap().path();
            if path.extension().is_some_and(|e| e == "rs") {
                source.push_str(&std::fs::read_to_string(path).unwrap());
            }
        }
    }
    for name in &names {
        assert!(
            source.contains(&format!("\"{name}\"")),
            "the dashboard reads {name}, which shared/ never emits"
        );
    }
    // Namespace and dimensions as shared/lambda/src/metrics.rs writes them.
    assert_eq!(
        t["Globals"]["Function"]["Environment"]["Variables"]["METRICS_NAMESPACE"],
        "Rota"
    );
    assert!(source.contains(r#""Dimensions": [["service", "function"]]"#));
    assert!(source.contains(r#""service": "rota""#));
}

#[test]
fn cors_is_explicit() {
    let t = Template::parse(&template_text()).unwrap();
    let cors = t.http_api.cors.expect("CorsConfiguration");
    assert!(!cors.allow_origins.is_empty());
    for o in &cors.allow_origins {
        assert!(
            !o.contains('*') && (o.starts_with("https://") || o.starts_with("http://")),
            "{o}"
        );
        // Only local development may use plain http.
        assert!(
            o.starts_with("https://")
                || o.starts_with("http://localhost:")
                || o.starts_with("http://127.0.0.1:"),
            "{o}"
        );
    }
    for h in ["authorization", "content-type", "x-request-id"] {
        assert!(cors.allow_headers.iter().any(|x| x == h), "allow {h}");
    }
    for h in [
        "ratelimit-limit",
        "ratelimit-remaining",
        "ratelimit-reset",
        "retry-after",
        "x-request-id",
    ] {
        assert!(cors.expose_headers.iter().any(|x| x == h), "expose {h}");
    }
    for m in ["GET", "POST", "PATCH", "DELETE"] {
        assert!(cors.allow_methods.iter().any(|x| x == m), "method {m}");
    }
    assert!(cors.max_age.is_some());
    assert!(!cors.allow_credentials, "bearer tokens, no cookies");
}

// ---------------------------------------------------------------------------------------------
// The checkers catch what they are for
// ---------------------------------------------------------------------------------------------

mod checkers_catch {
    use super::*;

    fn t(yaml: &str) -> Value {
        template_json(yaml).unwrap()
    }

    fn function_with(statements: &str) -> Value {
        t(&format!(
            r#"
Parameters:
  KeyArn: {{ Type: String, Default: "" }}
  Wide: {{ Type: String, Default: "arn:aws:kms:us-east-1:123456789012:key/*" }}
Resources:
  Table: {{ Type: AWS::DynamoDB::Table }}
  Fn:
    Type: AWS::Serverless::Function
    Properties:
      Policies:
        - Statement:
{statements}
"#
        ))
    }

    fn iam(statements: &str) -> Vec<String> {
        iam_findings(&function_with(statements))
    }

    #[test]
    fn precise_statements_pass() {
        let ok = iam(r#"
            - Effect: Allow
              Action: [dynamodb:GetItem, dynamodb:PutItem]
              Resource: [!GetAtt Table.Arn, !Sub "${Table.Arn}/index/feed-new"]
            - Effect: Allow
              Action: xray:PutTraceSegments
              Resource: "*"
            - Effect: Deny
              Action: "*"
              Resource: "*"
            - !If
              - HasKey
              - { Effect: Allow, Action: kms:Decrypt, Resource: !Ref KeyArn }
              - !Ref AWS::NoValue"#);
        assert!(ok.is_empty(), "{ok:?}");
    }

    #[test]
    fn wildcard_actions_fail() {
        for action in [
            "\"*\"",
            "dynamodb:*",
            "dynamodb:Get*",
            "[dynamodb:GetItem, \"s3:*\"]",
        ] {
            let found = iam(&format!(
                "            - {{ Effect: Allow, Action: {action}, Resource: !GetAtt Table.Arn }}"
            ));
            assert_eq!(found.len(), 1, "{action}: {found:?}");
        }
    }

    #[test]
    fn wildcard_resources_fail() {
        for resource in [
            "\"*\"",
            "arn:aws:dynamodb:us-east-1:123456789012:table/*",
            "!Sub \"arn:${AWS::Partition}:kms:${AWS::Region}:${AWS::AccountId}:key/*\"",
            "[!GetAtt Table.Arn, !Sub \"${Table.Arn}/index/*\"]",
            "!Join [\"\", [\"arn:aws:s3:::\", \"bucket/*\"]]",
            "!Ref Wide",
        ] {
            let found = iam(&format!(
                "            - {{ Effect: Allow, Action: dynamodb:GetItem, Resource: {resource} }}"
            ));
            assert_eq!(found.len(), 1, "{resource}: {found:?}");
        }
        // The allow-list covers only its own actions, not a statement that mixes in others.
        let mixed = iam(
            "            - { Effect: Allow, Action: [xray:PutTraceSegments, s3:GetObject], Resource: \"*\" }",
        );
        assert_eq!(mixed.len(), 1, "{mixed:?}");
    }

    #[test]
    fn hidden_grants_fail() {
        // Inside either branch of an Fn::If.
        let found = iam(r#"
            - !If
              - Cond
              - { Effect: Allow, Action: dynamodb:GetItem, Resource: !GetAtt Table.Arn }
              - { Effect: Allow, Action: "kms:*", Resource: "*" }"#);
        assert_eq!(found.len(), 2, "{found:?}");
        let found =
            iam("            - { Effect: Allow, NotAction: iam:*, Resource: !GetAtt Table.Arn }");
        assert!(found.iter().any(|f| f.contains("NotAction")), "{found:?}");
        let found = iam("            - { Effect: Allow, Action: dynamodb:GetItem }");
        assert_eq!(found.len(), 1, "{found:?}");
    }

    #[test]
    fn managed_policies_and_sam_templates_fail_on_functions() {
        let found = iam_findings(&t(r#"
Resources:
  Fn:
    Type: AWS::Serverless::Function
    Properties:
      Policies:
        - AmazonDynamoDBFullAccess
        - DynamoDBCrudPolicy: { TableName: t }
"#));
        assert_eq!(found.len(), 2, "{found:?}");
    }

    #[test]
    fn roles_and_policies_are_checked_too() {
        let found = iam_findings(&t(r#"
Resources:
  Role:
    Type: AWS::IAM::Role
    Properties:
      AssumeRolePolicyDocument:
        Statement:
          - { Effect: Allow, Principal: { Service: backup.amazonaws.com }, Action: "sts:*" }
      ManagedPolicyArns:
        - arn:aws:iam::aws:policy/service-role/AWSBackupServiceRolePolicyForBackup
        - arn:aws:iam::aws:policy/AdministratorAccess
      Policies:
        - PolicyName: inline
          PolicyDocument:
            Statement:
              - { Effect: Allow, Action: "s3:GetObject", Resource: "arn:aws:s3:::b/*" }
  Extra:
    Type: AWS::IAM::Policy
    Properties:
      PolicyDocument:
        Statement:
          - { Effect: Allow, Action: "*", Resource: "*" }
  Key:
    Type: AWS::IAM::AccessKey
"#));
        let joined = found.join("\n");
        for expected in [
            "AssumeRolePolicyDocument[0]: wildcard action sts:*",
            "AdministratorAccess is not in the allow-list",
            "Role.Policies[0][0]: resource with a wildcard",
            "Extra.PolicyDocument[0]: wildcard action *",
            "Extra.PolicyDocument[0]: resource with a wildcard",
            "Key: IAM users",
        ] {
            assert!(
                joined.contains(expected),
                "missing {expected:?} in:\n{joined}"
            );
        }
        assert_eq!(found.len(), 6, "{joined}");
    }

    fn secrets(vars: &str) -> Vec<String> {
        secret_findings(&t(&format!(
            r#"
Parameters:
  SecretParam: {{ Type: String, Default: /rota/jwt-secret }}
  PlainSecret: {{ Type: String, NoEcho: true, Default: hunter2hunter2 }}
Globals:
  Function:
    Environment:
      Variables:
        LOG_LEVEL: info
Resources:
  Table: {{ Type: AWS::DynamoDB::Table }}
  Fn:
    Type: AWS::Serverless::Function
    Properties:
      Environment:
        Variables:
{vars}
"#
        )))
    }

    #[test]
    fn references_to_secrets_pass() {
        let ok = secrets(
            r#"          JWT_SECRET_PARAM: !Ref SecretParam
          API_KEY_PARAM: /rota/api-key
          SIGNING_KEY_ARN: arn:aws:secretsmanager:us-east-1:123456789012:secret:x
          TABLE_NAME: !Ref Table
          KEY_TABLE: !GetAtt Table.Arn
          FEED_SHARDS: "1"
          REDIS_URL: !Sub "rediss://${Table}:6379"
          DB_PASSWORD: "{{resolve:ssm-secure:/rota/db}}""#,
        );
        // The dynamic reference is still a literal to this check: only names of parameters
        // and ARNs pass (CloudFormation would write the resolved secret into the function).
        assert_eq!(ok.len(), 1, "{ok:?}");
        assert!(ok[0].contains("DB_PASSWORD"));
    }

    #[test]
    fn plain_secrets_fail() {
        for (var, why) in [
            ("JWT_SECRET: correct-horse-battery-staple", "literal"),
            ("API_TOKEN: \"12345\"", "literal"),
            ("PRIVATE_PEM: \"-----BEGIN PRIVATE KEY-----\"", "literal"),
            ("DB_PASSWORD: !Ref PlainSecret", "holds the secret itself"),
            (
                "SIGNING_KEY: !Sub \"k-${AWS::Region}-9f8e7d\"",
                "literal text",
            ),
            ("SOMETHING: AKIAIOSFODNN7EXAMPLE", "key material"),
            (
                "DATABASE_URL: \"postgres://rota:s3cret@db:5432/rota\"",
                "key material",
            ),
            (
                "OPAQUE: Zm9vYmFyYmF6UXV4MTIzNDU2Nzg5MGFiY2RlZg",
                "key material",
            ),
            (
                "SESSION: eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.c2ln",
                "key material",
            ),
        ] {
            let found = secrets(&format!("          {var}"));
            assert!(
                found.iter().any(|f| f.contains(why)),
                "{var}: expected {why:?} in {found:?}"
            );
        }
        // Globals count as much as a function's own environment.
        let found = secret_findings(&t(r#"
Globals:
  Function:
    Environment:
      Variables:
        ADMIN_PASSWORD: changeme
Resources: {}
"#));
        assert_eq!(found.len(), 1, "{found:?}");
    }
}
