//! No plain secret in any function's environment: names that say secret hold references (SSM
//! parameter names, ARNs), and no value looks like key material whatever its name. The JWT
//! secret, the tokens' issuer and their audience are each stack's own, and the functions may
//! read exactly that secret.

use super::*;

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

#[test]
fn function_environments_hold_no_secrets() {
    let findings = secret_findings(&template());
    assert!(
        findings.is_empty(),
        "secret findings:\n{}",
        findings.join("\n")
    );
}

/// Every IAM statement anywhere in the template (functions' `Policies`, roles, policies) that
/// allows `action`.
fn statements_allowing<'a>(v: &'a Value, action: &str, out: &mut Vec<&'a Value>) {
    match v {
        Value::Object(m) => {
            if m.get("Effect").is_some_and(|e| e == "Allow")
                && one_or_many(m.get("Action").unwrap_or(&Value::Null))
                    .iter()
                    .any(|a| *a == action)
            {
                out.push(v);
            }
            m.values().for_each(|x| statements_allowing(x, action, out));
        }
        Value::Array(items) => items
            .iter()
            .for_each(|x| statements_allowing(x, action, out)),
        _ => {}
    }
}

#[test]
fn the_jwt_secret_issuer_and_audience_are_each_stacks_own() {
    use rota_local::template::Template;
    let text = template_text();
    let stack = |name: &str| Template::parse(&text).unwrap().with_stack_name(name);
    let (staging, prod) = (stack("rota-staging"), stack("rota-prod"));
    let env = |t: &Template, var: &str| {
        t.shared_env(var)
            .unwrap()
            .unwrap_or_else(|| panic!("{var}"))
    };
    // By default the secret is the stack's own, and the tokens name the stack.
    assert_eq!(t_default("JwtSecretParameterName"), "");
    assert_eq!(env(&prod, "JWT_SECRET_PARAM"), "/rota/rota-prod/jwt-secret");
    for var in ["JWT_SECRET_PARAM", "JWT_ISSUER", "JWT_AUDIENCE"] {
        let (a, b) = (env(&staging, var), env(&prod, var));
        assert_ne!(a, b, "{var}: two stacks of one account share {a}");
        assert!(b.contains("rota-prod"), "{var}: {b}");
    }
    assert_ne!(env(&prod, "JWT_ISSUER"), env(&prod, "JWT_AUDIENCE"));

    // Every grant to read the secret names exactly the parameter the functions read, by
    // default and when the parameter is given.
    let raw = template();
    let mut given = raw.clone();
    given["Parameters"]["JwtSecretParameterName"]["Default"] = "/shared/jwt".into();
    let given_prod = Template::parse(&given.to_string())
        .unwrap()
        .with_stack_name("rota-prod");
    assert_eq!(env(&given_prod, "JWT_SECRET_PARAM"), "/shared/jwt");
    for (t, json) in [(&prod, &raw), (&given_prod, &given)] {
        let mut grants = Vec::new();
        statements_allowing(&json["Resources"], "ssm:GetParameter", &mut grants);
        assert!(
            grants.len() >= 10,
            "{} statements allow ssm:GetParameter",
            grants.len()
        );
        let want = format!(
            "arn:aws:ssm:us-east-1:123456789012:parameter{}",
            env(t, "JWT_SECRET_PARAM")
        );
        for g in grants {
            for resource in one_or_many(&g["Resource"]) {
                assert_eq!(
                    t.resolve(resource, None).as_deref(),
                    Ok(want.as_str()),
                    "{g}"
                );
            }
        }
    }
}

fn t_default(param: &str) -> Value {
    template()["Parameters"][param]["Default"].clone()
}

// The checker catches what it is for.
mod checkers_catch {
    use super::*;

    fn secrets(vars: &str) -> Vec<String> {
        let head = r#"Parameters:
  SecretParam: { Type: String, Default: /rota/jwt-secret }
  PlainSecret: { Type: String, NoEcho: true, Default: hunter2hunter2 }
Globals:
  Function:
    Environment:
      Variables:
        LOG_LEVEL: info"#;
        let table = "  Table: { Type: AWS::DynamoDB::Table }\n";
        let environment =
            format!("    Properties:\n      Environment:\n        Variables:\n{vars}");
        secret_findings(&with_function(head, table, &environment))
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
