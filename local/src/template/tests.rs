//! The template as a whole: parsing, resolution and the project's own `template.yaml`.

use std::collections::BTreeMap;
use std::path::Path;

use serde_json::Value as Json;

use super::*;

const FIXTURE: &str = fixtures::STACK;

fn ctx() -> LocalContext {
    LocalContext {
        aws_endpoint: "http://127.0.0.1:5005".into(),
        redis_url: "redis://127.0.0.1:6379".into(),
        cache_ca: None,
    }
}

#[test]
fn parses_functions_with_globals() {
    let t = Template::parse(FIXTURE).unwrap();
    let login = t.function("LoginFunction").unwrap();
    assert_eq!(login.binary, "auth-login");
    assert_eq!(
        login.logging.lambda_env(),
        vec![
            ("AWS_LAMBDA_LOG_FORMAT".to_string(), "JSON".to_string()),
            ("AWS_LAMBDA_LOG_LEVEL".to_string(), "DEBUG".to_string()),
        ]
    );
    assert_eq!(login.memory_size, 1024);
    assert_eq!(login.timeout_secs, 10);
    let fallback = t.function("FallbackFunction").unwrap();
    assert_eq!(fallback.memory_size, 256);
    assert_eq!(fallback.timeout_secs, 3);
    assert_eq!(fallback.events.len(), 2);
    assert!(fallback.events.iter().any(|e| matches!(
        &e.source,
        EventSource::Schedule(s) if s.kind == "ScheduleV2"
    )));
    // Routes stay what they were: the schedule adds none.
    assert_eq!(fallback.http_routes().count(), 1);
}

#[test]
fn routes_include_default() {
    let t = Template::parse(FIXTURE).unwrap();
    let mut keys: Vec<_> = t
        .routes()
        .iter()
        .map(|r| (r.route_key(), r.function.clone(), r.name.clone()))
        .collect();
    keys.sort();
    assert_eq!(
        keys,
        vec![
            (
                "$default".to_string(),
                "FallbackFunction".to_string(),
                "not-found".to_string()
            ),
            (
                "POST /api/auth/login".to_string(),
                "LoginFunction".to_string(),
                "auth-login".to_string()
            ),
        ]
    );
    assert!(t.routes().iter().any(RouteInfo::is_default));
}

#[test]
fn throttle_route_over_default_over_account() {
    let t = Template::parse(FIXTURE).unwrap();
    assert_eq!(
        t.throttle_for("POST /api/auth/login"),
        Throttle {
            rate: 5.0,
            burst: 10
        }
    );
    // Only the burst is set on the route: the rate comes from the default settings.
    assert_eq!(
        t.throttle_for("get  /api/x"),
        Throttle {
            rate: 100.0,
            burst: 3
        }
    );
    assert_eq!(
        t.throttle_for("$default"),
        Throttle {
            rate: 100.0,
            burst: 50
        }
    );
    let bare = Template::parse("Resources: {}").unwrap();
    assert_eq!(
        bare.throttle_for("GET /"),
        Throttle {
            rate: ACCOUNT_RATE_LIMIT,
            burst: ACCOUNT_BURST_LIMIT
        }
    );
}

/// The queue of `t` with the logical id `id`.
fn queue<'t>(t: &'t Template, id: &str) -> &'t Queue {
    t.queues().iter().find(|q| q.logical_id == id).unwrap()
}

/// Asserts that `env` holds each `(name, value)` of `want`, and none of `absent`.
fn assert_env(env: &BTreeMap<String, String>, want: &[(&str, &str)], absent: &[&str]) {
    for (name, value) in want {
        assert_eq!(env.get(*name).map(String::as_str), Some(*value), "{name}");
    }
    for name in absent {
        assert!(!env.contains_key(*name), "{name} should be left out");
    }
}

#[test]
fn environment_resolution() {
    let t = Template::parse(FIXTURE).unwrap();
    let login = t.function("LoginFunction").unwrap();
    let env = t.function_env(login, &ctx());
    assert_env(
        &env,
        &[
            ("TABLE_NAME", "rota-dev"),
            ("JWT_SECRET_PARAM", "/rota/jwt-secret"),
            ("LOG_LEVEL", "debug"),
            (
                "QUEUE_URL",
                "http://127.0.0.1:5005/123456789012/rota-local-jobs",
            ),
            ("REDIS_URL", "redis://127.0.0.1:6379"),
            ("CACHE_ENDPOINT", "redis://127.0.0.1:6379"),
            (
                "TABLE_ARN",
                "arn:aws:dynamodb:us-east-1:123456789012:table/rota-dev",
            ),
            ("JOINED", "a-dev"),
        ],
        // Unresolvable references; and no local CA: nothing added.
        &["MISSING", "BUCKET", "SSL_CERT_FILE"],
    );
    // With a local CA, the cache's users trust it.
    let with_ca = LocalContext {
        cache_ca: Some("/repo/.local/ca/ca.pem".into()),
        ..ctx()
    };
    let env = t.function_env(login, &with_ca);
    assert_env(&env, &[("SSL_CERT_FILE", "/repo/.local/ca/ca.pem")], &[]);
}

#[test]
fn tables_and_queues() {
    let t = Template::parse(FIXTURE).unwrap();
    let table = &t.tables()[0];
    assert_eq!(table.name, "rota-dev");
    assert_eq!(table.key_schema.len(), 2);
    assert_eq!(table.attribute_definitions.len(), 3);
    let gsi = &table.global_secondary_indexes[0];
    assert_eq!(gsi.name, "GSI1");
    assert_eq!(gsi.projection.projection_type, "INCLUDE");
    assert_eq!(gsi.projection.non_key_attributes, vec!["title".to_string()]);
    assert_eq!(
        table.time_to_live,
        Some(TimeToLive {
            attribute_name: "expires_at".into(),
            enabled: true
        })
    );
    let q = queue(&t, "JobsQueue");
    assert_eq!(q.name, "rota-local-jobs");
    assert_eq!(q.visibility_timeout, Some(60));
    assert_eq!(
        q.redrive_policy,
        Some(RedrivePolicy {
            dead_letter_target_arn: "arn:aws:sqs:us-east-1:123456789012:JobsDlq".into(),
            max_receive_count: 5
        })
    );
    let dlq = queue(&t, "JobsDlq");
    assert_eq!(dlq.name, "JobsDlq");
    assert_eq!(
        dlq.url("http://127.0.0.1:5005/"),
        "http://127.0.0.1:5005/123456789012/JobsDlq"
    );
}

const EVENTS: &str = fixtures::EVENTS;

#[test]
fn schedule_and_sqs_events() {
    let t = Template::parse(EVENTS).unwrap();
    let f = t.function("Worker").unwrap();
    assert_eq!(f.http_routes().count(), 0);
    let routed: Vec<_> = t.routes().iter().map(|r| r.function.clone()).collect();
    assert_eq!(routed, ["Digest"]);

    let schedules: BTreeMap<_, _> = f.schedules().collect();
    let hourly = schedules["Hourly"];
    assert_eq!(hourly.kind, "Schedule");
    assert_eq!(hourly.expression.as_str(), "rate(1 hour)");
    assert!(hourly.enabled && hourly.input.is_none());
    let nightly = schedules["Nightly"];
    assert!(nightly.is_v2() && !nightly.enabled);
    assert_eq!(nightly.input, Some(serde_json::json!({"job": "nightly"})));

    let sqs: BTreeMap<_, _> = f.sqs_sources().collect();
    assert_eq!(
        sqs["Jobs"],
        &SqsSource {
            queue_arn: "arn:aws:sqs:us-east-1:123456789012:jobs".into(),
            queue_name: "jobs".into(),
            queue_logical_id: Some("Jobs".into()),
            batch_size: 5,
            maximum_batching_window_secs: 2,
            report_batch_item_failures: true,
            maximum_concurrency: Some(3),
            enabled: true,
        }
    );
    // Defaults, and a literal ARN that names a template queue.
    assert_eq!(
        sqs["Plain"],
        &SqsSource {
            queue_arn: "arn:aws:sqs:us-east-1:123456789012:rota-local-dlq".into(),
            queue_name: "rota-local-dlq".into(),
            queue_logical_id: Some("Dlq".into()),
            batch_size: DEFAULT_SQS_BATCH_SIZE,
            maximum_batching_window_secs: 0,
            report_batch_item_failures: false,
            maximum_concurrency: None,
            enabled: true,
        }
    );
    assert!(!sqs["Off"].enabled);
}

#[test]
fn queue_references_in_function_environments() {
    let t = Template::parse(EVENTS).unwrap();
    let env = t.function_env(t.function("Worker").unwrap(), &ctx());
    assert_env(
        &env,
        &[
            ("QUEUE_URL", "http://127.0.0.1:5005/123456789012/jobs"),
            ("QUEUE_ARN", "arn:aws:sqs:us-east-1:123456789012:jobs"),
            ("QUEUE_NAME", "jobs"),
            (
                "DLQ_URL",
                "http://127.0.0.1:5005/123456789012/rota-local-dlq",
            ),
            (
                "SUBBED",
                "http://127.0.0.1:5005/123456789012/jobs|arn:aws:sqs:us-east-1:123456789012:jobs|rota-local-dlq",
            ),
        ],
        &[],
    );
    let jobs = queue(&t, "Jobs");
    assert_eq!(
        jobs.redrive_policy.as_ref().unwrap().dead_letter_target_arn,
        "arn:aws:sqs:us-east-1:123456789012:rota-local-dlq"
    );
}

#[test]
fn invalid_event_properties_are_rejected() {
    let with = |event: &str| {
        format!(
            "Resources:\n  Q: {{ Type: AWS::SQS::Queue }}\n  F:\n    Type: AWS::Serverless::Function\n    Properties:\n      Events:\n        E: {event}\n"
        )
    };
    for bad in [
        "{ Type: Schedule, Properties: {} }",
        "{ Type: Schedule, Properties: { Schedule: hourly } }",
        "{ Type: ScheduleV2, Properties: { ScheduleExpression: rate(1 hours) } }",
        "{ Type: ScheduleV2, Properties: { ScheduleExpression: rate(1 hour), Input: '{bad' } }",
        "{ Type: SQS, Properties: {} }",
        "{ Type: SQS, Properties: { Queue: not-an-arn } }",
        "{ Type: SQS, Properties: { Queue: !GetAtt Q.Arn, BatchSize: 0 } }",
        "{ Type: SQS, Properties: { Queue: !GetAtt Q.Arn, BatchSize: 11 } }",
        "{ Type: SQS, Properties: { Queue: !GetAtt Q.Arn, MaximumBatchingWindowInSeconds: 301 } }",
        "{ Type: SQS, Properties: { Queue: !GetAtt Q.Arn, FunctionResponseTypes: [Nope] } }",
        "{ Type: SQS, Properties: { Queue: !GetAtt Q.Arn, ScalingConfig: { MaximumConcurrency: 1 } } }",
    ] {
        assert!(Template::parse(&with(bad)).is_err(), "{bad}");
    }
    for good in [
        "{ Type: SQS, Properties: { Queue: !GetAtt Q.Arn, BatchSize: 100, MaximumBatchingWindowInSeconds: 1 } }",
        "{ Type: SQS, Properties: { Queue: !GetAtt Q.Arn, Enabled: false } }",
        "{ Type: Schedule, Properties: { Schedule: rate(5 minutes), Enabled: false } }",
    ] {
        assert!(Template::parse(&with(good)).is_ok(), "{good}");
    }
}

#[test]
fn cors_configuration_resolves_with_parameter_defaults() {
    let text = r#"
Parameters:
  Origins:
    Type: CommaDelimitedList
    Default: "https://a.test, http://localhost:5173"
  Joined:
    Type: String
    Default: "https://b.test,https://c.test"
Conditions:
  On: !Not [!Equals [!Ref Joined, ""]]
  Off: !Equals [!Ref Joined, ""]
  Both: !And [!Condition On, !Or [!Condition Off, !Condition On]]
Resources:
  Api:
    Type: AWS::Serverless::HttpApi
    Properties:
      CorsConfiguration:
        AllowOrigins: !Ref Origins
        AllowMethods: [GET, !Join ["", [PO, ST]]]
        MaxAge: 60
        AllowCredentials: true
"#;
    // A Ref to a CommaDelimitedList is split on commas; list items may be intrinsics.
    let t = Template::parse(text).unwrap();
    let cors = t.http_api.cors.clone().unwrap();
    assert_eq!(
        cors.allow_origins,
        ["https://a.test", "http://localhost:5173"]
    );
    assert_eq!(cors.allow_methods, ["GET", "POST"]);
    assert_eq!(cors.max_age, Some(60));
    assert!(cors.allow_credentials);
    assert!(t.condition("On").unwrap());
    assert!(!t.condition("Off").unwrap());
    assert!(t.condition("Both").unwrap());
    assert!(t.condition("Nope").is_err());

    let with_if = |cond: &str| {
        text.replace(
                "      CorsConfiguration:\n        AllowOrigins: !Ref Origins\n",
                &format!(
                    "      CorsConfiguration: !If\n        - {cond}\n        - AllowOrigins: !Split [\",\", !Ref Joined]\n        - !Ref AWS::NoValue\n      Unused:\n"
                ),
            )
    };
    let t = Template::parse(&with_if("On")).unwrap();
    assert_eq!(
        t.http_api.cors.unwrap().allow_origins,
        ["https://b.test", "https://c.test"]
    );
    assert_eq!(
        Template::parse(&with_if("Off")).unwrap().http_api.cors,
        None
    );
    // `CorsConfiguration: true` is SAM's allow-everything shorthand.
    let t = Template::parse(
            "Resources:\n  Api:\n    Type: AWS::Serverless::HttpApi\n    Properties:\n      CorsConfiguration: true\n",
        )
        .unwrap();
    assert_eq!(t.http_api.cors.unwrap().allow_origins, ["*"]);
}

#[test]
fn sub_forms() {
    let t = Template::parse(FIXTURE).unwrap();
    let v: Json = serde_json::json!({"Fn::Sub": ["${A}-${Stage}-${!Literal}", {"A": "x"}]});
    assert_eq!(t.resolve(&v, None).unwrap(), "x-dev-${Literal}");
    let cyclic = Template::parse(
        "Resources:\n  T:\n    Type: AWS::DynamoDB::Table\n    Properties:\n      TableName: !Ref T\n      KeySchema: [{AttributeName: PK, KeyType: HASH}]\n",
    );
    assert!(cyclic.is_err());
}

#[test]
fn stack_names_if_and_select_of_split_resolve_per_stack() {
    let t = Template::parse(
        r#"
Parameters:
  Given: { Type: String, Default: "" }
Conditions:
  HasGiven: !Not [!Equals [!Ref Given, ""]]
Resources:
  Fn:
    Type: AWS::Serverless::Function
    Properties:
      Handler: x
      Environment:
        Variables:
          SECRET: !If [HasGiven, !Ref Given, !Sub "/rota/${AWS::StackName}/jwt-secret"]
          ID: !Select [0, !Split ["-", !Select [2, !Split ["/", !Ref AWS::StackId]]]]
"#,
    )
    .unwrap();
    let (a, b) = (
        t.clone().with_stack_name("rota-local-3000"),
        t.with_stack_name("rota-local-3100"),
    );
    assert_eq!(a.stack_name(), "rota-local-3000");
    assert_eq!(
        a.shared_env("SECRET").unwrap().as_deref(),
        Some("/rota/rota-local-3000/jwt-secret")
    );
    let (id_a, id_b) = (
        a.shared_env("ID").unwrap().unwrap(),
        b.shared_env("ID").unwrap().unwrap(),
    );
    assert_eq!(id_a.len(), 8, "{id_a}");
    assert!(id_a.chars().all(|c| c.is_ascii_hexdigit()), "{id_a}");
    assert_ne!(id_a, id_b);
    // The same stack name, the same id (a restarted local stack keeps its names).
    assert_eq!(
        a.clone()
            .with_stack_name("rota-local-3100")
            .shared_env("ID"),
        b.shared_env("ID")
    );
    assert_eq!(a.shared_env("MISSING"), Ok(None));
}

/// The real template: every function resolves its whole environment locally and every
/// route has a binary. Written against invariants, as the template is still growing.
#[test]
fn real_template_resolves() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../template.yaml");
    let t = Template::load(&path)
        .unwrap()
        .with_stack_name("rota-local-3100");
    assert!(!t.functions.is_empty());
    let table_names: Vec<_> = t.tables().iter().map(|t| t.name.clone()).collect();
    // Each stack its own secret (and the stack creates that one).
    // (What stack::jwt_secret_name creates: the variable every function shares.)
    let jwt_param = t.shared_env("JWT_SECRET_PARAM").unwrap();
    assert_eq!(
        jwt_param.as_deref(),
        Some("/rota/rota-local-3100/jwt-secret")
    );
    for f in &t.functions {
        assert!(!f.binary.is_empty(), "{} has no binary", f.logical_id);
        assert!(f.timeout_secs > 0 && f.memory_size >= 128);
        let env = t.function_env(f, &ctx());
        // Nothing is left out: the whole environment resolves locally.
        assert_eq!(
            env.len(),
            f.environment.len(),
            "{}: unresolved variables",
            f.logical_id
        );
        if let Some(name) = env.get("TABLE_NAME") {
            assert!(
                table_names.contains(name),
                "TABLE_NAME {name} is not a table"
            );
        }
        if let (Some(v), Some(p)) = (env.get("JWT_SECRET_PARAM"), &jwt_param) {
            assert_eq!(v, p);
        }
        if let Some(v) = env.get("REDIS_URL") {
            assert_eq!(v, "redis://127.0.0.1:6379");
        }
    }
    // The local stack serves the web app's dev server (docs/operations.md).
    let cors = t.http_api.cors.as_ref().expect("the API declares CORS");
    assert!(
        cors.allow_origins
            .iter()
            .any(|o| o == "http://localhost:5173")
    );
    assert!(cors.allow_origins.iter().all(|o| o != "*"));
    for r in t.routes() {
        if !r.is_default() {
            assert!(r.path.starts_with('/'), "{}", r.route_key());
        }
        let th = t.throttle_for(&r.route_key());
        assert!(th.rate > 0.0 && th.burst > 0);
    }
}

#[test]
fn a_function_is_named_by_its_handler_when_one_binary_serves_several() {
    let t = Template::parse(
        r#"
Globals:
  Function:
    Handler: bootstrap
Resources:
  Shared:
    Type: AWS::Serverless::Function
    Metadata: { BuildProperties: { Binary: rota } }
    Properties:
      Handler: users-me-get
  Alone:
    Type: AWS::Serverless::Function
    Metadata: { BuildProperties: { Binary: alone } }
"#,
    )
    .unwrap();
    let shared = t.function("Shared").unwrap();
    assert_eq!(
        (
            shared.binary.as_str(),
            shared.handler.as_str(),
            shared.name()
        ),
        ("rota", "users-me-get", "users-me-get")
    );
    // Globals' `bootstrap` is the runtime's file name: the binary names the function.
    let alone = t.function("Alone").unwrap();
    assert_eq!(
        (alone.handler.as_str(), alone.name()),
        ("bootstrap", "alone")
    );
}

#[test]
fn given_parameters_decide_conditions_and_a_resource_whose_condition_is_false_is_not_created() {
    let text = r#"
Parameters:
  Docs:
    Type: String
    Default: Enabled
    AllowedValues: [Enabled, Disabled]
  Stage:
    Type: String
    Default: dev
Conditions:
  DocsOn: !Equals [!Ref Docs, Enabled]
Resources:
  Api:
    Type: AWS::Serverless::HttpApi
    Properties:
      RouteSettings:
        "GET /docs": !If [DocsOn, { ThrottlingRateLimit: 5, ThrottlingBurstLimit: 10 }, !Ref AWS::NoValue]
        "GET /a": { ThrottlingRateLimit: 7 }
  DocsFunction:
    Type: AWS::Serverless::Function
    Condition: DocsOn
    Metadata: { BuildProperties: { Binary: rota } }
    Properties:
      Handler: docs
      Events:
        Page: { Type: HttpApi, Properties: { Path: /docs, Method: GET } }
  AFunction:
    Type: AWS::Serverless::Function
    Metadata: { BuildProperties: { Binary: rota } }
    Properties:
      Handler: a
      Environment:
        Variables:
          STAGE: !Ref Stage
          DOCS: !If [DocsOn, !Ref DocsFunction, none]
      Events:
        A: { Type: HttpApi, Properties: { Path: /a, Method: GET } }
  DocsTable:
    Type: AWS::DynamoDB::Table
    Condition: DocsOn
    Properties:
      KeySchema: [{ AttributeName: PK, KeyType: HASH }]
"#;
    let keys = |t: &Template| t.routes().iter().map(|r| r.route_key()).collect::<Vec<_>>();
    let on = Template::parse(text).unwrap();
    assert_eq!(keys(&on), ["GET /a", "GET /docs"]);
    assert!(on.is_created("DocsFunction") && on.tables().len() == 1);
    assert_eq!(on.throttle_for("GET /docs").rate, 5.0);
    assert_eq!(on.parameter_value("Docs"), Some("Enabled"));

    let given = |pairs: &[(&str, &str)]| -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    };
    let off =
        Template::parse_with(text, &given(&[("Docs", "Disabled"), ("Stage", "prod")])).unwrap();
    // No function, no route, no table, no route settings: as CloudFormation would create it.
    assert_eq!(keys(&off), ["GET /a"]);
    assert!(!off.is_created("DocsFunction") && off.function("DocsFunction").is_none());
    assert!(off.tables().is_empty());
    assert!(!off.http_api.route_settings.contains_key("GET /docs"));
    assert_eq!(off.http_api.route_settings.len(), 1);
    assert!(!off.condition("DocsOn").unwrap());
    assert_eq!(off.parameter_value("Docs"), Some("Disabled"));
    assert_eq!(off.parameter_default("Docs"), Some("Enabled"));
    let env = off.function_env(off.function("AFunction").unwrap(), &ctx());
    assert_eq!(env["STAGE"], "prod");
    assert_eq!(env["DOCS"], "none");
    // A Ref to a resource that is not created fails, as CloudFormation refuses it.
    assert!(
        off.resolve(&serde_json::json!({"Ref": "DocsFunction"}), None)
            .unwrap_err()
            .contains("not created")
    );

    // CloudFormation refuses an unknown parameter and a value it does not allow.
    for bad in [&[("Nope", "x")][..], &[("Docs", "Off")][..]] {
        let err = Template::parse_with(text, &given(bad))
            .unwrap_err()
            .to_string();
        assert!(err.contains(bad[0].0), "{err}");
    }
}

#[test]
fn the_projects_template_without_its_docs_has_no_docs_function_route_or_route_settings() {
    let text =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("../template.yaml"))
            .unwrap();
    let given = BTreeMap::from([("ApiDocs".to_string(), "Disabled".to_string())]);
    let on = Template::parse(&text).unwrap();
    let off = Template::parse_with(&text, &given).unwrap();
    let docs = |t: &Template| {
        t.routes()
            .into_iter()
            .filter(|r| r.path == "/docs" || r.path.starts_with("/docs/"))
            .count()
    };
    assert_eq!((docs(&on), docs(&off)), (2, 0));
    assert_eq!(on.routes().len(), off.routes().len() + 2);
    assert_eq!(on.functions.len(), off.functions.len() + 1);
    assert!(off.function("DocsFunction").is_none());
    // The stage refuses settings of a route that does not exist: every key is a route.
    for t in [&on, &off] {
        let routes: Vec<String> = t.routes().iter().map(|r| r.route_key()).collect();
        for key in t.http_api.route_settings.keys() {
            assert!(routes.contains(key), "RouteSettings {key} is no route");
        }
    }
}
