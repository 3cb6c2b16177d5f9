//! Least-privilege IAM text: every statement names its actions and resources (wildcards only
//! where AWS offers nothing narrower), managed policies only from the allow-list, and the KMS
//! grant for the JWT secret only for a customer-managed key.

use super::*;

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
        "AWSLambdaBasicExecutionRole",
        "logs only (CreateLogStream, PutLogEvents): what SAM attaches to every function role; \
         written out on the roles the template defines itself (RemindersWorkerRole)",
    ),
    (
        "AWSXrayWriteOnlyAccess",
        "X-Ray segments only: what SAM attaches for Tracing: Active",
    ),
    (
        "AWSBackupServiceRolePolicyForBackup",
        "the role AWS Backup assumes to snapshot the table (AWS's own least-privilege policy)",
    ),
    (
        "AWSBackupServiceRolePolicyForRestores",
        "the same role restoring a snapshot into a new table",
    ),
];

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

// The checker catches what it is for.
mod checkers_catch {
    use super::*;

    fn function_with(statements: &str) -> Value {
        let parameters = r#"Parameters:
  KeyArn: { Type: String, Default: "" }
  Wide: { Type: String, Default: "arn:aws:kms:us-east-1:123456789012:key/*" }"#;
        let table = "  Table: { Type: AWS::DynamoDB::Table }\n";
        let policies =
            format!("    Properties:\n      Policies:\n        - Statement:\n{statements}");
        with_function(parameters, table, &policies)
    }

    /// Asserts that the checker finds exactly one thing wrong with a function of `statement`.
    fn finds_one(statement: &str) {
        let found = iam(&format!("            - {statement}"));
        assert_eq!(found.len(), 1, "{statement}: {found:?}");
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
            finds_one(&format!(
                "{{ Effect: Allow, Action: {action}, Resource: !GetAtt Table.Arn }}"
            ));
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
            finds_one(&format!(
                "{{ Effect: Allow, Action: dynamodb:GetItem, Resource: {resource} }}"
            ));
        }
        // The allow-list covers only its own actions, not a statement that mixes in others.
        finds_one(
            "{ Effect: Allow, Action: [xray:PutTraceSegments, s3:GetObject], Resource: \"*\" }",
        );
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
        let found = iam_findings(&with_function(
            "",
            "",
            r#"    Properties:
      Policies:
        - AmazonDynamoDBFullAccess
        - DynamoDBCrudPolicy: { TableName: t }"#,
        ));
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
}
