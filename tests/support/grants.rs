//! The grant check: each function's grants (the template's roles, as the SAM transform writes
//! them) against the calls it made (the emulator's `/_rota/iam` account). A grant nobody used
//! is an over-grant; a refused call is a missing one.

use serde_json::Value;

/// AWS managed policies a function role may carry: they grant logs, X-Ray and VPC network
/// interfaces, never data. A data call allowed by one of them is a finding.
pub const MANAGED_POLICIES: &[&str] = &[
    "AWSLambdaBasicExecutionRole",
    "AWSXrayWriteOnlyAccess",
    "AWSLambdaVPCAccessExecutionRole",
];

/// What is wrong with the grants of `roles` (`rota_local::iam::expanded_roles`, resolved)
/// given what the emulator saw (`usage`, its `/_rota/iam` answer). Empty: every grant was used
/// and every call was granted.
pub fn findings(roles: &Value, usage: &Value) -> Vec<String> {
    let mut out = Vec::new();
    let functions = roles["functions"].as_object().cloned().unwrap_or_default();
    for (function, role) in &functions {
        let role = role.as_str().unwrap_or_default();
        let spec = &roles["roles"][role];
        let used = &usage["roles"][role];
        for (call, n) in used["denied"].as_object().into_iter().flatten() {
            out.push(format!("{function}: refused {n}× {call} (a missing grant)"));
        }
        for arn in spec["ManagedPolicyArns"].as_array().into_iter().flatten() {
            let name = arn
                .as_str()
                .unwrap_or_default()
                .rsplit('/')
                .next()
                .unwrap_or_default();
            if !MANAGED_POLICIES.contains(&name) {
                out.push(format!(
                    "{function}: managed policy {name} is not one of {MANAGED_POLICIES:?}"
                ));
            }
        }
        for (id, statement) in used["statements"].as_object().into_iter().flatten() {
            let policy = id.split('#').next().unwrap_or_default();
            if MANAGED_POLICIES.contains(&policy) {
                out.push(format!(
                    "{function}: {:?} allowed by the managed policy {policy}",
                    statement["actions"]
                ));
            }
        }
        for policy in spec["Policies"].as_array().into_iter().flatten() {
            let name = policy["PolicyName"].as_str().unwrap_or_default();
            let statements = one_or_many(&policy["PolicyDocument"]["Statement"]);
            for (i, statement) in statements.iter().enumerate() {
                if statement["Effect"] != "Allow" {
                    continue;
                }
                let id = format!("{name}#{i}");
                let seen = &used["statements"][&id];
                if seen.is_null() {
                    out.push(format!(
                        "{function}: statement {id} ({}) was never used",
                        one_or_many(&statement["Action"])
                            .iter()
                            .filter_map(Value::as_str)
                            .collect::<Vec<_>>()
                            .join(", ")
                    ));
                    continue;
                }
                for action in one_or_many(&statement["Action"])
                    .iter()
                    .filter_map(Value::as_str)
                {
                    if seen["actions"].get(action).is_none() {
                        out.push(format!("{function}: {action} in {id} was never used"));
                    }
                }
                for resource in one_or_many(&statement["Resource"])
                    .iter()
                    .filter_map(Value::as_str)
                {
                    if seen["resources"].get(resource).is_none() {
                        out.push(format!(
                            "{function}: resource {resource} in {id} was never used"
                        ));
                    }
                }
                let listed = one_or_many(
                    &statement["Condition"]["ForAllValues:StringEquals"]["dynamodb:Attributes"],
                );
                let attributes: Vec<&str> = seen["attributes"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(Value::as_str)
                    .collect();
                for attribute in listed.iter().filter_map(Value::as_str) {
                    if !attributes.contains(&attribute) {
                        out.push(format!(
                            "{function}: attribute {attribute} in {id} was never written"
                        ));
                    }
                }
            }
        }
    }
    out
}

fn one_or_many(v: &Value) -> Vec<Value> {
    match v {
        Value::Null => Vec::new(),
        Value::Array(items) => items.clone(),
        other => vec![other.clone()],
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn roles() -> Value {
        json!({
            "functions": {"F": "FRole"},
            "roles": {"FRole": {
                "ManagedPolicyArns": ["arn:aws:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole"],
                "Policies": [{"PolicyName": "P", "PolicyDocument": {"Statement": [
                    {"Effect": "Allow", "Action": ["dynamodb:GetItem", "dynamodb:PutItem"], "Resource": "arn:t"},
                    {"Effect": "Allow", "Action": "dynamodb:UpdateItem", "Resource": "arn:t",
                     "Condition": {"ForAllValues:StringEquals": {"dynamodb:Attributes": ["PK", "SK", "a", "b"]}}},
                    {"Effect": "Allow", "Action": "ssm:GetParameter", "Resource": ["arn:p", "arn:q"]}
                ]}}]
            }}
        })
    }

    fn used(statements: Value, denied: Value) -> Value {
        json!({"roles": {"FRole": {"statements": statements, "denied": denied}}})
    }

    #[test]
    fn every_grant_used_and_nothing_refused_is_clean() {
        let usage = used(
            json!({
                "P#0": {"actions": {"dynamodb:GetItem": 1, "dynamodb:PutItem": 1}, "resources": {"arn:t": 2}, "attributes": []},
                "P#1": {"actions": {"dynamodb:UpdateItem": 1}, "resources": {"arn:t": 1}, "attributes": ["PK", "SK", "a", "b"]},
                "P#2": {"actions": {"ssm:GetParameter": 2}, "resources": {"arn:p": 1, "arn:q": 1}, "attributes": []}
            }),
            json!({}),
        );
        assert_eq!(findings(&roles(), &usage), Vec::<String>::new());
    }

    #[test]
    fn an_unused_action_resource_attribute_or_statement_and_a_refused_call_are_findings() {
        let usage = used(
            json!({
                "P#0": {"actions": {"dynamodb:GetItem": 1}, "resources": {"arn:t": 1}, "attributes": []},
                "P#1": {"actions": {"dynamodb:UpdateItem": 1}, "resources": {"arn:t": 1}, "attributes": ["PK", "SK", "a"]},
                "AWSLambdaBasicExecutionRole#0": {"actions": {"dynamodb:*": 1}}
            }),
            json!({"dynamodb:Query arn:t": 3}),
        );
        let found = findings(&roles(), &usage);
        let expect = [
            "refused 3× dynamodb:Query arn:t",
            "dynamodb:PutItem in P#0 was never used",
            "attribute b in P#1 was never written",
            "statement P#2 (ssm:GetParameter) was never used",
            "allowed by the managed policy AWSLambdaBasicExecutionRole",
        ];
        for e in expect {
            assert!(
                found.iter().any(|f| f.contains(e)),
                "{e} missing from {found:#?}"
            );
        }
        assert_eq!(found.len(), expect.len(), "{found:#?}");
    }
}
