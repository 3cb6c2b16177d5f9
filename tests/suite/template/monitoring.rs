//! Alarms (every one notifies a topic CloudWatch can use; latency at the owner's targets;
//! error rate, throttling, reminders) and the dashboard (valid JSON, every KPI, metrics the
//! functions really emit).

use std::collections::BTreeSet;

use rota_local::template::Template;

use super::*;

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
