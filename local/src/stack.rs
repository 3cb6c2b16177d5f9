//! The AWS stand-ins: a moto server (started here unless an endpoint is given) and the tables,
//! queues and secret the template needs, created with the real AWS SDK for Rust.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_sdk_dynamodb::types as ddb;
use aws_sdk_sqs::types::QueueAttributeName;
use base64::Engine as _;
use tokio::process::{Child, Command};

use crate::template::{LOCAL_REGION, Table, Template};

/// How long moto may take to start answering.
const MOTO_START_TIMEOUT: Duration = Duration::from_secs(60);
/// Parameter whose `Default` names the SSM SecureString holding the JWT secret (when the
/// functions' environment does not).
pub const JWT_SECRET_PARAMETER: &str = "JwtSecretParameterName";
/// The functions' environment variable naming that SecureString.
pub const JWT_SECRET_ENV: &str = "JWT_SECRET_PARAM";

/// A moto server child process. Stopped by [`MotoServer::stop`], and killed if dropped.
pub struct MotoServer {
    child: Child,
    /// `http://127.0.0.1:<port>`.
    pub endpoint: String,
    pub port: u16,
}

/// `<repo>/local/moto-server` (moto from the repo's `.venv`, DynamoDB calls serialised as
/// DynamoDB itself guarantees; see `local/moto_server.py`) when the venv exists, else
/// `moto_server` from `PATH`.
/// Where a stack's sent emails land, one RFC 5322 file each (written by the emulator wrapper,
/// `local/moto_mail.py`): `mail/` beside the stack's `logs/` (`.local/mail/` for the default
/// stack, `.local/<PORT>/mail/` for another).
pub fn mail_dir(logs_dir: &Path) -> PathBuf {
    logs_dir
        .parent()
        .unwrap_or_else(|| Path::new("."))
        .join("mail")
}

pub fn find_moto_server(repo_root: &Path) -> PathBuf {
    let launcher = repo_root.join("local/moto-server");
    if repo_root.join(".venv/bin/python").is_file() && launcher.is_file() {
        launcher
    } else {
        PathBuf::from("moto_server")
    }
}

/// Whether `executable` is the repo's emulator wrapper (`local/moto-server`), the one that
/// understands `--faults-file` and `--faults`.
pub fn is_moto_wrapper(executable: &Path) -> bool {
    executable.ends_with("local/moto-server")
}

/// The fault profile the emulator wrapper applies (its `dynamodb` and `sqs` sections).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EmulatorFaults {
    /// The profiles file.
    pub file: PathBuf,
    /// The profile's name.
    pub profile: String,
}

impl MotoServer {
    /// Starts `moto_server -H 127.0.0.1 -p <port>` (port 0: a free one), output to
    /// `<logs_dir>/moto.log`, and waits until it answers.
    pub async fn start(executable: &Path, port: u16, logs_dir: &Path) -> anyhow::Result<Self> {
        Self::start_with_faults(executable, port, logs_dir, None).await
    }

    /// [`MotoServer::start`], with `--faults-file FILE --faults PROFILE` for the wrapper when
    /// `faults` is given.
    pub async fn start_with_faults(
        executable: &Path,
        port: u16,
        logs_dir: &Path,
        faults: Option<&EmulatorFaults>,
    ) -> anyhow::Result<Self> {
        Self::start_with(executable, port, logs_dir, faults, false).await
    }

    /// [`MotoServer::start_with_faults`], and with `iam` the wrapper's `--iam`: calls made
    /// with role credentials are checked against the role (`local/moto_iam.py`).
    pub async fn start_with(
        executable: &Path,
        port: u16,
        logs_dir: &Path,
        faults: Option<&EmulatorFaults>,
        iam: bool,
    ) -> anyhow::Result<Self> {
        if iam && !is_moto_wrapper(executable) {
            bail!(
                "IAM enforcement needs the emulator wrapper local/moto-server and the repo's \
                 .venv (found only {}); make bootstrap, or run without IAM (--no-iam)",
                executable.display()
            );
        }
        let port = if port == 0 {
            free_port()?
        } else {
            // Another moto on this port would answer our readiness checks while ours fails to
            // bind: refuse early with a clear message instead.
            if std::net::TcpListener::bind(("127.0.0.1", port)).is_err() {
                bail!(
                    "port {port} is in use; pass --aws-endpoint http://127.0.0.1:{port} to use \
                     what runs there, or another --moto-port"
                );
            }
            port
        };
        std::fs::create_dir_all(logs_dir)
            .with_context(|| format!("cannot create {}", logs_dir.display()))?;
        let log_path = logs_dir.join("moto.log");
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log_path)
            .with_context(|| format!("cannot open {}", log_path.display()))?;
        let mut cmd = Command::new(executable);
        cmd.args(["-H", "127.0.0.1", "-p", &port.to_string()]);
        if let Some(f) = faults {
            cmd.arg("--faults-file")
                .arg(&f.file)
                .args(["--faults", &f.profile]);
        }
        if iam {
            cmd.arg("--iam");
        }
        if is_moto_wrapper(executable) {
            cmd.arg("--mail-dir").arg(mail_dir(logs_dir));
        }
        cmd.stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            .kill_on_drop(true);
        crate::process::harden_child(&mut cmd);
        let child = cmd.spawn().with_context(|| {
            format!(
                "cannot start {} (create the venv: make bootstrap)",
                executable.display()
            )
        })?;
        let mut server = Self {
            child,
            endpoint: format!("http://127.0.0.1:{port}"),
            port,
        };
        let started = Instant::now();
        loop {
            if let Some(status) = server.child.try_wait()? {
                bail!(
                    "moto_server exited at start ({status}); see {}",
                    log_path.display()
                );
            }
            if tokio::net::TcpStream::connect(("127.0.0.1", port))
                .await
                .is_ok()
            {
                break;
            }
            if started.elapsed() > MOTO_START_TIMEOUT {
                server.stop().await;
                bail!("moto_server did not answer within {MOTO_START_TIMEOUT:?}");
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        wait_until_ready(&server.endpoint, MOTO_START_TIMEOUT).await?;
        tracing::info!("moto listening on {}", server.endpoint);
        Ok(server)
    }

    /// SIGTERM, then SIGKILL if it has not exited after a few seconds.
    pub async fn stop(&mut self) {
        if let Some(pid) = self.child.id().and_then(|p| i32::try_from(p).ok()) {
            // SAFETY: plain kill(2) on our own child's pid.
            unsafe { libc::kill(pid, libc::SIGTERM) };
            if tokio::time::timeout(Duration::from_secs(3), self.child.wait())
                .await
                .is_ok()
            {
                return;
            }
        }
        let _ = self.child.kill().await;
    }
}

fn free_port() -> std::io::Result<u16> {
    Ok(std::net::TcpListener::bind(("127.0.0.1", 0))?
        .local_addr()?
        .port())
}

/// SDK configuration for the stand-in at `endpoint`: dummy credentials, us-east-1.
pub async fn sdk_config(endpoint: &str) -> SdkConfig {
    aws_config::defaults(BehaviorVersion::latest())
        .region(Region::new(LOCAL_REGION))
        .endpoint_url(endpoint)
        .credentials_provider(aws_sdk_dynamodb::config::Credentials::new(
            "testing",
            "testing",
            None,
            None,
            "rota-local",
        ))
        .load()
        .await
}

/// Waits until DynamoDB at `endpoint` answers (ListTables).
pub async fn wait_until_ready(endpoint: &str, timeout: Duration) -> anyhow::Result<()> {
    let client = aws_sdk_dynamodb::Client::new(&sdk_config(endpoint).await);
    let started = Instant::now();
    loop {
        match client.list_tables().limit(1).send().await {
            Ok(_) => return Ok(()),
            Err(e) if started.elapsed() > timeout => {
                bail!(
                    "{endpoint} does not answer: {}",
                    aws_sdk_dynamodb::error::DisplayErrorContext(e)
                )
            }
            Err(_) => tokio::time::sleep(Duration::from_millis(200)).await,
        }
    }
}

/// What [`ensure_resources`] did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ResourceReport {
    pub tables_created: Vec<String>,
    pub tables_existing: Vec<String>,
    pub queues_created: Vec<String>,
    pub queues_existing: Vec<String>,
    /// Name of the SSM parameter created for the JWT secret, if it was missing.
    pub secret_created: Option<String>,
    /// SES identities and configuration sets created (the emulator checks the sender).
    pub mail_created: Vec<String>,
}

/// Creates every table (with its indexes and TTL) and queue the template declares, and the JWT
/// secret parameter, where missing. Idempotent: running it again changes nothing.
pub async fn ensure_resources(
    template: &Template,
    endpoint: &str,
) -> anyhow::Result<ResourceReport> {
    let config = sdk_config(endpoint).await;
    let mut report = ResourceReport::default();

    let dynamo = aws_sdk_dynamodb::Client::new(&config);
    for table in template.tables() {
        if ensure_table(&dynamo, table)
            .await
            .with_context(|| format!("table {}", table.name))?
        {
            report.tables_created.push(table.name.clone());
        } else {
            report.tables_existing.push(table.name.clone());
        }
    }

    let sqs = aws_sdk_sqs::Client::new(&config);
    let mut urls = HashMap::new();
    // Two passes: every queue exists before a redrive policy points at it.
    for queue in template.queues() {
        let existing = sqs.get_queue_url().queue_name(&queue.name).send().await;
        let url = match existing.ok().and_then(|o| o.queue_url) {
            Some(url) => {
                report.queues_existing.push(queue.name.clone());
                url
            }
            None => {
                let mut attrs = HashMap::new();
                if queue.fifo {
                    attrs.insert(QueueAttributeName::FifoQueue, "true".to_string());
                }
                if queue.content_based_deduplication {
                    attrs.insert(
                        QueueAttributeName::ContentBasedDeduplication,
                        "true".to_string(),
                    );
                }
                let out = sqs
                    .create_queue()
                    .queue_name(&queue.name)
                    .set_attributes((!attrs.is_empty()).then_some(attrs))
                    .send()
                    .await
                    .map_err(|e| anyhow::anyhow!(aws_sdk_sqs::error::DisplayErrorContext(e)))
                    .with_context(|| format!("creating queue {}", queue.name))?;
                report.queues_created.push(queue.name.clone());
                out.queue_url.unwrap_or_else(|| queue.url(endpoint))
            }
        };
        urls.insert(queue.logical_id.clone(), url);
    }
    for queue in template.queues() {
        let mut attrs = HashMap::new();
        let mut put = |k: QueueAttributeName, v: Option<u32>| {
            if let Some(v) = v {
                attrs.insert(k, v.to_string());
            }
        };
        put(
            QueueAttributeName::VisibilityTimeout,
            queue.visibility_timeout,
        );
        put(
            QueueAttributeName::MessageRetentionPeriod,
            queue.message_retention_period,
        );
        put(QueueAttributeName::DelaySeconds, queue.delay_seconds);
        put(
            QueueAttributeName::ReceiveMessageWaitTimeSeconds,
            queue.receive_message_wait_time_seconds,
        );
        put(
            QueueAttributeName::MaximumMessageSize,
            queue.maximum_message_size,
        );
        if let Some(rp) = &queue.redrive_policy {
            attrs.insert(
                QueueAttributeName::RedrivePolicy,
                serde_json::json!({
                    "deadLetterTargetArn": rp.dead_letter_target_arn,
                    "maxReceiveCount": rp.max_receive_count,
                })
                .to_string(),
            );
        }
        if attrs.is_empty() {
            continue;
        }
        let Some(url) = urls.get(&queue.logical_id) else {
            continue;
        };
        sqs.set_queue_attributes()
            .queue_url(url)
            .set_attributes(Some(attrs))
            .send()
            .await
            .map_err(|e| anyhow::anyhow!(aws_sdk_sqs::error::DisplayErrorContext(e)))
            .with_context(|| format!("setting attributes of queue {}", queue.name))?;
    }

    let ses = aws_sdk_sesv2::Client::new(&config);
    for identity in template.mail_identities() {
        let exists = ses
            .get_email_identity()
            .email_identity(&identity)
            .send()
            .await
            .is_ok();
        if !exists {
            ses.create_email_identity()
                .email_identity(&identity)
                .send()
                .await
                .map_err(|e| anyhow::anyhow!(aws_sdk_sesv2::error::DisplayErrorContext(e)))
                .with_context(|| format!("SES identity {identity}"))?;
            report.mail_created.push(identity);
        }
    }
    for set in template.mail_configuration_sets() {
        let exists = ses
            .get_configuration_set()
            .configuration_set_name(&set)
            .send()
            .await
            .is_ok();
        if !exists {
            let created = ses
                .create_configuration_set()
                .configuration_set_name(&set)
                .send()
                .await;
            match created {
                Ok(_) => report.mail_created.push(set),
                // moto's GetConfigurationSet does not find every set it holds: the create's
                // answer is the one that says whether it exists.
                Err(e)
                    if aws_sdk_sesv2::error::ProvideErrorMetadata::code(&e)
                        == Some("AlreadyExistsException")
                        || aws_sdk_sesv2::error::ProvideErrorMetadata::code(&e)
                            == Some("ConfigurationSetAlreadyExistsException") => {}
                Err(e) => {
                    return Err(anyhow::anyhow!(aws_sdk_sesv2::error::DisplayErrorContext(
                        e
                    )))
                    .with_context(|| format!("SES configuration set {set}"));
                }
            }
        }
    }

    if let Some(name) = jwt_secret_name(template)? {
        let ssm = aws_sdk_ssm::Client::new(&config);
        if ensure_secret(&ssm, &name)
            .await
            .with_context(|| format!("SSM parameter {name}"))?
        {
            report.secret_created = Some(name);
        }
    }
    Ok(report)
}

/// The SSM parameter the functions read the JWT secret from: their `JWT_SECRET_PARAM` as this
/// stack resolves it (per stack name by default), else, in a template whose functions name
/// none, the `JwtSecretParameterName` parameter's default.
pub fn jwt_secret_name(template: &Template) -> anyhow::Result<Option<String>> {
    if let Some(name) = template
        .shared_env(JWT_SECRET_ENV)
        .map_err(anyhow::Error::msg)?
    {
        return Ok(Some(name));
    }
    Ok(template
        .parameter_default(JWT_SECRET_PARAMETER)
        .filter(|n| !n.is_empty())
        .map(str::to_string))
}

/// Creates the table if missing (true if created); on an existing table adds missing global
/// secondary indexes and enables TTL, so a long-running moto follows the template.
async fn ensure_table(client: &aws_sdk_dynamodb::Client, t: &Table) -> anyhow::Result<bool> {
    let described = client.describe_table().table_name(&t.name).send().await;
    let existing = match described {
        Ok(out) => out.table,
        Err(e)
            if e.as_service_error()
                .is_some_and(|s| s.is_resource_not_found_exception()) =>
        {
            None
        }
        Err(e) => bail!(aws_sdk_dynamodb::error::DisplayErrorContext(e)),
    };
    let provisioned = t.billing_mode == "PROVISIONED";
    let throughput =
        |pt: Option<(i64, i64)>| -> anyhow::Result<Option<ddb::ProvisionedThroughput>> {
            if !provisioned {
                return Ok(None);
            }
            let (r, w) = pt.or(t.provisioned_throughput).unwrap_or((5, 5));
            Ok(Some(
                ddb::ProvisionedThroughput::builder()
                    .read_capacity_units(r)
                    .write_capacity_units(w)
                    .build()?,
            ))
        };
    let key_schema =
        |ks: &[crate::template::KeySchemaElement]| -> anyhow::Result<Vec<ddb::KeySchemaElement>> {
            ks.iter()
                .map(|k| {
                    Ok(ddb::KeySchemaElement::builder()
                        .attribute_name(&k.name)
                        .key_type(ddb::KeyType::from(k.key_type.as_str()))
                        .build()?)
                })
                .collect()
        };
    let projection = |p: &crate::template::Projection| {
        ddb::Projection::builder()
            .projection_type(ddb::ProjectionType::from(p.projection_type.as_str()))
            .set_non_key_attributes(
                (!p.non_key_attributes.is_empty()).then(|| p.non_key_attributes.clone()),
            )
            .build()
    };
    let attributes = t
        .attribute_definitions
        .iter()
        .map(|a| {
            Ok(ddb::AttributeDefinition::builder()
                .attribute_name(&a.name)
                .attribute_type(ddb::ScalarAttributeType::from(a.kind.as_str()))
                .build()?)
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    let gsi = |g: &crate::template::SecondaryIndex| -> anyhow::Result<ddb::GlobalSecondaryIndex> {
        Ok(ddb::GlobalSecondaryIndex::builder()
            .index_name(&g.name)
            .set_key_schema(Some(key_schema(&g.key_schema)?))
            .projection(projection(&g.projection))
            .set_provisioned_throughput(throughput(g.provisioned_throughput)?)
            .build()?)
    };

    let created = match existing {
        None => {
            let gsis = t
                .global_secondary_indexes
                .iter()
                .map(gsi)
                .collect::<anyhow::Result<Vec<_>>>()?;
            let lsis = t
                .local_secondary_indexes
                .iter()
                .map(|l| {
                    Ok(ddb::LocalSecondaryIndex::builder()
                        .index_name(&l.name)
                        .set_key_schema(Some(key_schema(&l.key_schema)?))
                        .projection(projection(&l.projection))
                        .build()?)
                })
                .collect::<anyhow::Result<Vec<_>>>()?;
            let stream = match &t.stream_view_type {
                Some(v) => Some(
                    ddb::StreamSpecification::builder()
                        .stream_enabled(true)
                        .stream_view_type(ddb::StreamViewType::from(v.as_str()))
                        .build()?,
                ),
                None => None,
            };
            let result = client
                .create_table()
                .table_name(&t.name)
                .set_attribute_definitions(Some(attributes))
                .set_key_schema(Some(key_schema(&t.key_schema)?))
                .billing_mode(if provisioned {
                    ddb::BillingMode::Provisioned
                } else {
                    ddb::BillingMode::PayPerRequest
                })
                .set_provisioned_throughput(throughput(t.provisioned_throughput)?)
                .set_global_secondary_indexes((!gsis.is_empty()).then_some(gsis))
                .set_local_secondary_indexes((!lsis.is_empty()).then_some(lsis))
                .set_stream_specification(stream)
                .send()
                .await;
            match result {
                Ok(_) => true,
                // Someone else created it meanwhile: fine.
                Err(e)
                    if e.as_service_error()
                        .is_some_and(|s| s.is_resource_in_use_exception()) =>
                {
                    false
                }
                Err(e) => bail!(aws_sdk_dynamodb::error::DisplayErrorContext(e)),
            }
        }
        Some(desc) => {
            let have: Vec<String> = desc
                .global_secondary_indexes()
                .iter()
                .filter_map(|g| g.index_name().map(str::to_string))
                .collect();
            for g in t
                .global_secondary_indexes
                .iter()
                .filter(|g| !have.contains(&g.name))
            {
                tracing::info!("table {}: adding index {}", t.name, g.name);
                let create = ddb::CreateGlobalSecondaryIndexAction::builder()
                    .index_name(&g.name)
                    .set_key_schema(Some(key_schema(&g.key_schema)?))
                    .projection(projection(&g.projection))
                    .set_provisioned_throughput(throughput(g.provisioned_throughput)?)
                    .build()?;
                client
                    .update_table()
                    .table_name(&t.name)
                    .set_attribute_definitions(Some(attributes.clone()))
                    .global_secondary_index_updates(
                        ddb::GlobalSecondaryIndexUpdate::builder()
                            .create(create)
                            .build(),
                    )
                    .send()
                    .await
                    .map_err(|e| {
                        anyhow::anyhow!(aws_sdk_dynamodb::error::DisplayErrorContext(e))
                    })?;
            }
            false
        }
    };

    if let Some(ttl) = t.time_to_live.as_ref().filter(|ttl| ttl.enabled) {
        let current = client
            .describe_time_to_live()
            .table_name(&t.name)
            .send()
            .await
            .map_err(|e| anyhow::anyhow!(aws_sdk_dynamodb::error::DisplayErrorContext(e)))?;
        let desc = current.time_to_live_description();
        let enabled = desc.is_some_and(|d| {
            d.time_to_live_status() == Some(&ddb::TimeToLiveStatus::Enabled)
                && d.attribute_name() == Some(ttl.attribute_name.as_str())
        });
        if !enabled {
            client
                .update_time_to_live()
                .table_name(&t.name)
                .time_to_live_specification(
                    ddb::TimeToLiveSpecification::builder()
                        .attribute_name(&ttl.attribute_name)
                        .enabled(true)
                        .build()?,
                )
                .send()
                .await
                .map_err(|e| anyhow::anyhow!(aws_sdk_dynamodb::error::DisplayErrorContext(e)))?;
        }
    }
    Ok(created)
}

/// Puts a random 48-byte secret as a SecureString if the parameter is missing (true if created).
async fn ensure_secret(client: &aws_sdk_ssm::Client, name: &str) -> anyhow::Result<bool> {
    match client.get_parameter().name(name).send().await {
        Ok(_) => return Ok(false),
        Err(e)
            if e.as_service_error()
                .is_some_and(|s| s.is_parameter_not_found()) => {}
        Err(e) => bail!(aws_sdk_ssm::error::DisplayErrorContext(e)),
    }
    let mut secret = [0u8; 48];
    rand::fill(&mut secret);
    let value = base64::engine::general_purpose::STANDARD.encode(secret);
    let put = client
        .put_parameter()
        .name(name)
        .r#type(aws_sdk_ssm::types::ParameterType::SecureString)
        .value(value)
        .overwrite(false)
        .send()
        .await;
    match put {
        Ok(_) => Ok(true),
        Err(e)
            if e.as_service_error()
                .is_some_and(|s| s.is_parameter_already_exists()) =>
        {
            Ok(false)
        }
        Err(e) => bail!(aws_sdk_ssm::error::DisplayErrorContext(e)),
    }
}
