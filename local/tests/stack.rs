//! Resources in a real moto: created from the template, and a second run changes nothing.
//! Needs the repo's `.venv` (`make bootstrap`); fails, saying so, without it.

mod common;

use common::{repo_root, require_venv};
use rota_local::stack::{self, MotoServer};
use rota_local::template::Template;

/// The template's unit-test stack: a table with an index and a TTL, a queue with its DLQ, the
/// JWT secret's parameter.
const TEMPLATE: &str = include_str!("../src/template/testdata/stack.yaml");

#[tokio::test]
async fn resources_are_created_once() {
    // Plain moto (not the repo's wrapper): the resources must suit the real thing.
    require_venv();
    let repo = repo_root();
    let exe = repo.join(".venv/bin/moto_server");
    let logs = tempfile::tempdir().unwrap();
    let mut moto = MotoServer::start(&exe, 0, logs.path()).await.unwrap();
    let template = Template::parse(TEMPLATE).unwrap();

    let first = stack::ensure_resources(&template, &moto.endpoint)
        .await
        .unwrap();
    assert_eq!(first.tables_created, vec!["rota-dev".to_string()]);
    assert_eq!(first.queues_created.len(), 2);
    assert_eq!(first.secret_created.as_deref(), Some("/rota/jwt-secret"));

    let second = stack::ensure_resources(&template, &moto.endpoint)
        .await
        .unwrap();
    assert!(second.tables_created.is_empty() && second.queues_created.is_empty());
    assert_eq!(second.tables_existing, vec!["rota-dev".to_string()]);
    assert_eq!(second.secret_created, None);

    let config = stack::sdk_config(&moto.endpoint).await;
    let ddb = aws_sdk_dynamodb::Client::new(&config);
    let (table, ttl) = tokio::join!(
        ddb.describe_table().table_name("rota-dev").send(),
        ddb.describe_time_to_live().table_name("rota-dev").send(),
    );
    let (table, ttl) = (table.unwrap(), ttl.unwrap());
    let table = table.table().unwrap();
    assert_eq!(
        table.global_secondary_indexes()[0].index_name(),
        Some("GSI1")
    );
    assert_eq!(
        ttl.time_to_live_description().unwrap().attribute_name(),
        Some("expires_at")
    );
    let sqs = aws_sdk_sqs::Client::new(&config);
    let url = sqs
        .get_queue_url()
        .queue_name("rota-local-jobs")
        .send()
        .await
        .unwrap();
    let attrs = sqs
        .get_queue_attributes()
        .queue_url(url.queue_url().unwrap())
        .attribute_names(aws_sdk_sqs::types::QueueAttributeName::All)
        .send()
        .await
        .unwrap();
    let attrs = attrs.attributes().unwrap();
    assert_eq!(
        attrs[&aws_sdk_sqs::types::QueueAttributeName::VisibilityTimeout],
        "60"
    );
    let redrive = &attrs[&aws_sdk_sqs::types::QueueAttributeName::RedrivePolicy];
    assert!(
        redrive.contains("arn:aws:sqs:us-east-1:123456789012:JobsDlq"),
        "{redrive}"
    );
    let ssm = aws_sdk_ssm::Client::new(&config);
    let p = ssm
        .get_parameter()
        .name("/rota/jwt-secret")
        .with_decryption(true)
        .send()
        .await
        .unwrap();
    let p = p.parameter().unwrap();
    assert_eq!(
        p.r#type(),
        Some(&aws_sdk_ssm::types::ParameterType::SecureString)
    );
    assert_eq!(p.value().unwrap().len(), 64); // 48 bytes in base64

    // The project's own template goes in too.
    let real = Template::load(repo.join("template.yaml")).unwrap();
    stack::ensure_resources(&real, &moto.endpoint)
        .await
        .unwrap();
    stack::ensure_resources(&real, &moto.endpoint)
        .await
        .unwrap();
    moto.stop().await;
}
