//! IAM as AWS enforces it: every function runs with its own execution role's temporary
//! credentials and the emulator refuses whatever that role does not grant
//! (`local/moto_iam.py`, `rota_local::iam`). The grants themselves are held to the calls the
//! functions make by `tests/alone/grants.rs`.

use aws_sdk_dynamodb::types::AttributeValue;

use rota_tests::*;

fn s(v: &str) -> AttributeValue {
    AttributeValue::S(v.into())
}

/// A DynamoDB client with `function`'s role credentials on the test run's stack.
async fn dynamodb_as(function: &str) -> aws_sdk_dynamodb::Client {
    let endpoint = &stack().aws_endpoint;
    let role = rota_local::iam::assume(endpoint, stack().name(), function)
        .await
        .expect("the emulator answers")
        .unwrap_or_else(|| panic!("the stack at {endpoint} does not enforce IAM"));
    let config = aws_sdk_dynamodb::config::Builder::from(&sdk_config().await)
        .credentials_provider(role.provider())
        .build();
    aws_sdk_dynamodb::Client::from_conf(config)
}

/// The error code of a call IAM refused.
const DENIED: &str = "AccessDeniedException";

fn service_code<E, R>(
    result: Result<
        R,
        aws_sdk_dynamodb::error::SdkError<E, aws_sdk_dynamodb::config::http::HttpResponse>,
    >,
) -> Option<String>
where
    E: aws_sdk_dynamodb::error::ProvideErrorMetadata,
{
    match result {
        Ok(_) => None,
        Err(e) => Some(
            e.as_service_error()
                .and_then(|s| s.code())
                .unwrap_or("not a service error")
                .to_string(),
        ),
    }
}

#[tokio::test]
async fn the_stack_runs_every_function_under_its_own_role() {
    let usage = iam_usage(&stack().aws_endpoint).await;
    assert_eq!(usage["enforced"], true, "{usage}");
    let functions = usage["stacks"][stack().name()]
        .as_object()
        .expect("the stack's functions");
    let template = rota_local::template::Template::load(repo_root().join("template.yaml")).unwrap();
    assert_eq!(functions.len(), template.functions.len());
    for f in &template.functions {
        let role = functions[&f.logical_id].as_str().unwrap();
        // One role per function: no two functions share one (least privilege per function).
        assert_eq!(
            functions
                .values()
                .filter(|r| r.as_str() == Some(role))
                .count(),
            1,
            "{role} serves several functions"
        );
    }
}

#[tokio::test]
async fn a_function_whose_role_has_no_policy_has_its_calls_refused() {
    let stripped =
        PrivateStack::start(|c| c.strip_roles_of = vec!["UsersMeGetFunction".into()]).await;
    let api = stripped.api();
    // Registration runs under its own role: it works.
    let account = api.new_account().await;
    // The profile read does not: its role grants nothing now.
    let me = api.get("/api/users/me", account.token()).await;
    assert!(me.status >= 500, "{} {}", me.status, me.text);
    let usage = stripped.iam_usage().await;
    let role =
        |logical: &str| rota_local::iam::physical_role_name(&stripped.running.stack_name, logical);
    let denied = &usage["roles"][role("UsersMeGetFunctionRole")]["denied"];
    let refused: Vec<&String> = denied
        .as_object()
        .map(|d| d.keys().collect())
        .unwrap_or_default();
    assert!(!refused.is_empty(), "nothing refused: {usage}");
    assert!(
        refused
            .iter()
            .any(|k| k.starts_with("ssm:GetParameter ") || k.starts_with("dynamodb:GetItem ")),
        "{refused:?}"
    );
    assert!(
        stripped.log("users-me-get").contains(DENIED),
        "the function's log names the refusal"
    );
    // Registration's calls were all allowed.
    assert_eq!(
        usage["roles"][role("AuthRegisterFunctionRole")]["denied"],
        serde_json::json!({})
    );
    stripped.stop().await;

    // The same request on the test run's stack, where the role has its policies.
    let (api, account) = Api::signed_up().await;
    let me = api.get("/api/users/me", account.token()).await;
    assert_eq!(me.status, 200, "{}", me.text);
}

/// Every function's role, tried on the one attribute that makes an administrator: only
/// registration may write it (a new user is a member), and only by creating the user.
#[tokio::test]
async fn no_function_but_registration_can_write_a_users_role() {
    let (api, account) = Api::signed_up().await;
    let template = rota_local::template::Template::load(repo_root().join("template.yaml")).unwrap();
    let table = table_name();
    let user_key = [
        ("PK", s(&format!("USER#{}", account.id))),
        ("SK", s("PROFILE")),
    ];
    for f in &template.functions {
        let db = dynamodb_as(&f.logical_id).await;
        let update = db
            .update_item()
            .table_name(&table)
            .key(user_key[0].0, user_key[0].1.clone())
            .key(user_key[1].0, user_key[1].1.clone())
            .update_expression("SET #role = :admin")
            .expression_attribute_names("#role", "role")
            .expression_attribute_values(":admin", s("admin"))
            .send()
            .await;
        assert_eq!(
            service_code(update).as_deref(),
            Some(DENIED),
            "{} may set a user's role",
            f.logical_id
        );
        // A condition that never holds (on a key attribute, which every grant lists): what
        // IAM allows is seen, and nothing is ever written to the shared table.
        let put = db
            .put_item()
            .table_name(&table)
            .item("PK", s(&format!("USER#{}", account.id)))
            .item("SK", s("PROFILE"))
            .item("role", s("admin"))
            .condition_expression("attribute_exists(PK) AND attribute_not_exists(PK)")
            .send()
            .await;
        let code = service_code(put);
        if f.logical_id == "AuthRegisterFunction" {
            // Allowed by IAM (refused by the condition); the code writes `member`
            // (tests/suite/auth).
            assert_eq!(code.as_deref(), Some("ConditionalCheckFailedException"));
        } else {
            assert_eq!(
                code.as_deref(),
                Some(DENIED),
                "{} may write a user with a role",
                f.logical_id
            );
        }
    }
    let me = api.get("/api/users/me", account.token()).await;
    assert_eq!(me.json()["role"], "member");
}

#[tokio::test]
async fn a_role_grants_its_own_actions_and_no_others() {
    // The catalog only reads a profile (for its language) and records activity: it may not
    // delete items.
    let db = dynamodb_as("RoadmapsCatalogFunction").await;
    let delete = db
        .delete_item()
        .table_name(table_name())
        .key("PK", s("USER#1"))
        .key("SK", s("PROFILE"))
        .send()
        .await;
    assert_eq!(service_code(delete).as_deref(), Some(DENIED));
    // The scheduler reads the reminders index only, not the table.
    let db = dynamodb_as("RemindersSchedulerFunction").await;
    let query = db
        .query()
        .table_name(table_name())
        .key_condition_expression("PK = :pk")
        .expression_attribute_values(":pk", s("USER#1"))
        .send()
        .await;
    assert_eq!(service_code(query).as_deref(), Some(DENIED));
    let index = db
        .query()
        .table_name(table_name())
        .index_name("reminders-due")
        .key_condition_expression("reminder_bucket = :b")
        .expression_attribute_values(":b", s("none"))
        .send()
        .await;
    assert_eq!(service_code(index), None);
}

/// A write grant without attribute conditions could write any attribute of any item, `role`
/// included: every PutItem/UpdateItem grant of a function names the attributes it may write.
#[tokio::test]
async fn every_write_grant_names_the_attributes_it_may_write() {
    let template = rota_local::template::Template::load(repo_root().join("template.yaml")).unwrap();
    let roles = rota_local::iam::expanded_roles(&repo_root(), &template)
        .await
        .expect("the template's roles");
    let mut unconditioned = Vec::new();
    for (role, spec) in roles["roles"].as_object().unwrap() {
        for policy in spec["Policies"].as_array().into_iter().flatten() {
            let statements = match &policy["PolicyDocument"]["Statement"] {
                serde_json::Value::Array(s) => s.clone(),
                one => vec![one.clone()],
            };
            for st in statements.iter().filter(|st| st["Effect"] == "Allow") {
                let actions: Vec<&str> = match &st["Action"] {
                    serde_json::Value::Array(a) => a.iter().filter_map(|a| a.as_str()).collect(),
                    a => a.as_str().into_iter().collect(),
                };
                let writes = actions.iter().any(|a| {
                    let a = a.to_ascii_lowercase();
                    a == "dynamodb:putitem"
                        || a == "dynamodb:updateitem"
                        || a.starts_with("dynamodb:*")
                });
                let listed =
                    st["Condition"]["ForAllValues:StringEquals"]["dynamodb:Attributes"].is_array();
                if writes && !listed {
                    unconditioned.push(format!("{role}: {actions:?}"));
                }
            }
        }
    }
    assert!(
        unconditioned.is_empty(),
        "write grants without dynamodb:Attributes: {unconditioned:#?}"
    );
}
