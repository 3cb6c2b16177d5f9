//! Alarms (every one notifies a topic CloudWatch can use and, when given, an existing one; the
//! stack is refused unless they reach an e-mail or that topic; latency at the owner's targets;
//! error rate, throttling, reminders) and the dashboard (valid JSON, every KPI, metrics the
//! functions really publish). Per-route figures come from each route's function (AWS/Lambda,
//! free) and the access log, never from the gateway's detailed (billed) per-route metrics.

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

/// `Rules` assertions evaluated with these parameter values (the rest at their defaults):
/// the descriptions of those that fail, as CloudFormation would refuse the stack with them.
fn refused_by_rules(t: &Value, given: &[(&str, &str)]) -> Vec<String> {
    fn eval(t: &Value, given: &[(&str, &str)], v: &Value) -> Value {
        let Some((k, arg)) = v.as_object().and_then(|m| m.iter().next()) else {
            return v.clone();
        };
        let args = || {
            one_or_many(arg)
                .into_iter()
                .map(|a| eval(t, given, a))
                .collect::<Vec<_>>()
        };
        match k.as_str() {
            "Ref" => {
                let name = arg.as_str().unwrap();
                match given.iter().find(|(p, _)| *p == name) {
                    Some((_, value)) => Value::from(*value),
                    None => t["Parameters"][name]["Default"].clone(),
                }
            }
            "Fn::Equals" => {
                let a = args();
                Value::Bool(a[0] == a[1])
            }
            "Fn::Not" => Value::Bool(args()[0] != true),
            "Fn::Or" => Value::Bool(args().iter().any(|a| *a == true)),
            "Fn::And" => Value::Bool(args().iter().all(|a| *a == true)),
            other => panic!("{other} in a rule: not evaluated here"),
        }
    }
    let mut refused = Vec::new();
    for (rule, r) in t["Rules"].as_object().into_iter().flatten() {
        if !r["RuleCondition"].is_null() && eval(t, given, &r["RuleCondition"]) != true {
            continue;
        }
        for a in one_or_many(&r["Assertions"]) {
            if eval(t, given, &a["Assert"]) != true {
                refused.push(format!("{rule}: {}", a["AssertDescription"]));
            }
        }
    }
    refused
}

#[test]
fn alarms_reach_an_email_or_an_existing_topic_one_of_which_must_be_given() {
    let t = template();
    // With the defaults (no destination) the stack is refused, naming what to give.
    let refused = refused_by_rules(&t, &[]);
    assert_eq!(refused.len(), 1, "{refused:?}");
    assert!(refused[0].contains("AlarmEmail") && refused[0].contains("AlarmTopicArn"));
    let topic = "arn:aws:sns:us-east-1:123456789012:on-call";
    for given in [
        &[("AlarmEmail", "ops@example.org")][..],
        &[("AlarmTopicArn", topic)][..],
        &[("AlarmEmail", "ops@example.org"), ("AlarmTopicArn", topic)][..],
    ] {
        assert_eq!(
            refused_by_rules(&t, given),
            Vec::<String>::new(),
            "{given:?}"
        );
    }
    // The e-mail is subscribed to the stack's topic; every alarm notifies that topic and the
    // given one (ALARM and OK alike).
    let sub = &t["Resources"]["AlarmEmailSubscription"];
    assert_eq!(sub["Condition"], "HasAlarmEmail");
    assert_eq!(sub["Properties"]["TopicArn"]["Ref"], "AlarmTopic");
    assert_eq!(sub["Properties"]["Endpoint"]["Ref"], "AlarmEmail");
    let given_topic = serde_json::json!(
        {"Fn::If": ["HasAlarmTopicArn", {"Ref": "AlarmTopicArn"}, {"Ref": "AWS::NoValue"}]}
    );
    for (id, a) in alarms(&t) {
        for key in ["AlarmActions", "OKActions"] {
            let actions = one_or_many(&a["Properties"][key]);
            if key == "OKActions" && actions.is_empty() {
                continue;
            }
            assert!(
                actions.contains(&&given_topic),
                "{id}.{key} does not notify AlarmTopicArn"
            );
        }
    }
    assert_eq!(
        t["Conditions"]["HasAlarmTopicArn"],
        serde_json::json!({"Fn::Not": [{"Fn::Equals": [{"Ref": "AlarmTopicArn"}, ""]}]})
    );
}

#[test]
fn latency_alarms_watch_each_routes_function_at_the_owners_targets() {
    let t = template();
    let routes = Template::parse(&template_text()).unwrap().routes();
    for (route, ms) in LATENCY_TARGETS {
        let function = routes
            .iter()
            .find(|r| r.route_key() == *route)
            .unwrap_or_else(|| panic!("{route} is not a route"))
            .function
            .clone();
        // One function per route: the route's latency is its function's Duration.
        assert_eq!(
            routes.iter().filter(|r| r.function == function).count(),
            1,
            "{function} serves more than {route}"
        );
        let found = alarms(&t).into_iter().find(|(_, a)| {
            let p = &a["Properties"];
            p["MetricName"] == "Duration"
                && one_or_many(&p["Dimensions"])
                    .iter()
                    .any(|d| d["Name"] == "FunctionName" && d["Value"]["Ref"] == function.as_str())
        });
        let (id, a) = found.unwrap_or_else(|| panic!("no latency alarm for {route} ({function})"));
        let p = &a["Properties"];
        assert_eq!(p["Namespace"], "AWS/Lambda", "{id}");
        assert_eq!(p["ExtendedStatistic"], "p95", "{id}");
        assert_eq!(p["Threshold"].as_i64(), Some(*ms), "{id}");
        assert_eq!(p["ComparisonOperator"], "GreaterThanThreshold", "{id}");
        assert_eq!(one_or_many(&p["Dimensions"]).len(), 1, "{id}");
        assert!(
            p["AlarmDescription"].as_str().unwrap().contains(route),
            "{id} does not name its route"
        );
    }
}

#[test]
fn no_detailed_route_metrics_are_enabled_or_read() {
    let t = template();
    let api = &t["Resources"]["RotaHttpApi"]["Properties"];
    // Billed as custom metrics (6 per route): off on the stage and on every route.
    assert_ne!(api["DefaultRouteSettings"]["DetailedMetricsEnabled"], true);
    for (route, settings) in api["RouteSettings"].as_object().into_iter().flatten() {
        assert_ne!(settings["DetailedMetricsEnabled"], true, "{route}");
    }
    // Nothing alarms on or draws a metric with the Route dimension (it would stay empty).
    for (id, a) in alarms(&t) {
        assert!(
            !a["Properties"].to_string().contains("\"Route\""),
            "{id} reads a per-route gateway metric"
        );
    }
    let (body, _) = dashboard(&t);
    let text = body.to_string();
    assert!(
        !text.contains("Route,") && !text.contains(",Route") && !text.contains("\"Route\""),
        "the dashboard reads per-route gateway metrics"
    );
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
        // DAU / MAU and the stats cache hit rate (EMF).
        "ActiveUsers24h",
        "ActiveUsers30d",
        "CacheHits",
        "CacheMisses",
        // Latency per route (the functions' Duration) and end to end (the gateway's Latency).
        "MetricName=\\\"Duration\\\"",
        "'p95'",
        "'p99'",
        "Latency",
        // Errors: whole API, per route (EMF Errors5xx per function, the access log's
        // routeKey and status), function errors.
        "4xx",
        "5xx",
        "Errors5xx",
        "routeKey",
        "MetricName=\\\"Errors\\\"",
        "Throttles",
        "ConcurrentExecutions",
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
        "RotaHttpApiAccessLogGroup",
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

/// Every series the dashboard reads from the functions' EMF namespace `Rota`: its metric name
/// and dimension keys.
fn emf_series(body: &Value) -> BTreeSet<(String, BTreeSet<String>)> {
    let mut series = BTreeSet::new();
    fn walk(v: &Value, series: &mut BTreeSet<(String, BTreeSet<String>)>) {
        match v {
            Value::Array(items) => {
                if items.first().and_then(Value::as_str) == Some("Rota")
                    && let Some(name) = items.get(1).and_then(Value::as_str)
                {
                    // ["Rota", name, key, value, key, value, ..., {options}]
                    let keys = items[2..]
                        .iter()
                        .filter_map(Value::as_str)
                        .step_by(2)
                        .map(str::to_string)
                        .collect();
                    series.insert((name.to_string(), keys));
                }
                items.iter().for_each(|i| walk(i, series));
            }
            Value::Object(m) => {
                if let Some(e) = m.get("expression").and_then(Value::as_str)
                    && let Some((_, schema)) = e.split_once("{Rota,")
                    && let Some((_, after)) = e.split_once("MetricName=\"")
                {
                    // SEARCH('{Rota,key,key} MetricName="name" ...')
                    let keys = schema.split('}').next().unwrap().split(',');
                    series.insert((
                        after.split('"').next().unwrap().to_string(),
                        keys.map(str::to_string).collect(),
                    ));
                }
                m.values().for_each(|i| walk(i, series));
            }
            _ => {}
        }
    }
    walk(body, &mut series);
    series
}

/// The dimension keys `name` is published with by shared/lambda/src/metrics.rs.
fn published_keys(name: &str) -> Option<BTreeSet<String>> {
    rota_lambda::metrics::published(name).map(|d| d.keys().iter().map(|k| k.to_string()).collect())
}

#[test]
fn the_dashboard_and_alarms_read_metrics_the_functions_publish() {
    let t = template();
    let (body, _) = dashboard(&t);
    let series = emf_series(&body);
    assert!(series.len() >= 8, "{series:?}");
    for (name, keys) in &series {
        assert_eq!(
            published_keys(name).as_ref(),
            Some(keys),
            "the dashboard reads {name} by {keys:?}; shared/lambda/src/metrics.rs PUBLISHED disagrees"
        );
    }
    // Alarms on the EMF namespace, plain or in metric math.
    let mut alarmed = 0;
    for (id, a) in alarms(&t) {
        let p = &a["Properties"];
        let mut metrics: Vec<&Value> = vec![p];
        for m in one_or_many(&p["Metrics"]) {
            metrics.push(&m["MetricStat"]["Metric"]);
        }
        for m in metrics {
            if m["Namespace"] != "Rota" {
                continue;
            }
            let name = m["MetricName"].as_str().unwrap();
            let keys: BTreeSet<String> = one_or_many(&m["Dimensions"])
                .iter()
                .filter_map(|d| d["Name"].as_str().map(str::to_string))
                .collect();
            assert_eq!(published_keys(name), Some(keys), "{id} alarms on {name}");
            alarmed += 1;
        }
    }
    assert!(alarmed >= 5, "{alarmed} alarmed EMF metrics");
    // Namespace as shared/lambda/src/metrics.rs writes it (METRICS_NAMESPACE).
    assert_eq!(
        t["Globals"]["Function"]["Environment"]["Variables"]["METRICS_NAMESPACE"],
        "Rota"
    );
}

#[test]
fn the_owners_kpis_are_published_with_few_dimensions() {
    for kpi in [
        "ActiveUsers24h",
        "ActiveUsers30d",
        "CacheHits",
        "CacheMisses",
    ] {
        assert_eq!(
            published_keys(kpi),
            Some(BTreeSet::from(["service".to_string()])),
            "{kpi}: one series for the whole service"
        );
    }
    // What AWS/Lambda already gives per function for free is not published again.
    for free in ["Requests", "Latency", "Invocations"] {
        assert_eq!(published_keys(free), None, "{free}");
    }
}
