//! The template model: what `template.yaml` declares, as the local stack reads it (functions
//! and their event sources, the HTTP API's throttling and CORS, tables, queues), with the
//! constants of the local account the ARNs and URLs are built in.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;

use serde_json::{Map, Value as Json};

use super::schedule_expression::ScheduleExpression;

/// Account id used for every locally built ARN and queue URL (moto's default account).
pub const LOCAL_ACCOUNT_ID: &str = "123456789012";
/// Region of the local stack.
pub const LOCAL_REGION: &str = "us-east-1";
/// Stack name reported for `AWS::StackName` unless the stack is given its own
/// ([`Template::with_stack_name`]; `rota-local serve` names each stack after its port).
pub const LOCAL_STACK_NAME: &str = "rota-local";
/// API id of the local HTTP API (10 lower-case alphanumerics, like a real one).
pub const LOCAL_API_ID: &str = "rotalocal1";
/// The route key of the catch-all route.
pub const DEFAULT_ROUTE_KEY: &str = "$default";

/// Account-level API Gateway throttling (requests per second), used when neither the route nor
/// the stage sets a rate.
pub const ACCOUNT_RATE_LIMIT: f64 = 10_000.0;
/// Account-level API Gateway burst, used when neither the route nor the stage sets a burst.
pub const ACCOUNT_BURST_LIMIT: u64 = 5_000;

/// Why a template could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum TemplateError {
    // The causes are part of the message (not `source`), so that error chains print them once.
    #[error("cannot read {path}: {error}")]
    Io {
        path: PathBuf,
        error: std::io::Error,
    },
    #[error("{path} is not valid YAML: {error}")]
    Yaml {
        path: PathBuf,
        error: serde_yaml_ng::Error,
    },
    #[error("{0}")]
    Invalid(String),
}

/// A template parameter.
#[derive(Debug, Clone, PartialEq)]
pub struct Parameter {
    pub name: String,
    /// `Type` (e.g. `String`).
    pub kind: String,
    /// `Default`, rendered as a string.
    pub default: Option<String>,
    /// `AllowedValues` (empty: any).
    pub allowed_values: Vec<String>,
    /// What the stack is given ([`Template::parse_with`]'s overrides, as `sam deploy
    /// --parameter-overrides`), else `None`: the default.
    pub given: Option<String>,
}

impl Parameter {
    /// The parameter's value in this stack: the one given, else the default.
    pub fn value(&self) -> Option<&str> {
        self.given.as_deref().or(self.default.as_deref())
    }
}

/// Throttling as written in the template (either part may be missing).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct ThrottleSettings {
    /// `ThrottlingRateLimit`: steady-state requests per second.
    pub rate_limit: Option<f64>,
    /// `ThrottlingBurstLimit`: bucket size.
    pub burst_limit: Option<u64>,
}

/// Effective throttling of one route: token bucket refilled at `rate` per second, holding at most
/// `burst` tokens.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Throttle {
    pub rate: f64,
    pub burst: u64,
}

/// The `AWS::Serverless::HttpApi` resource.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct HttpApi {
    pub logical_id: String,
    /// `DefaultRouteSettings`.
    pub default_route_settings: ThrottleSettings,
    /// `RouteSettings`, keyed by normalised route key (`"POST /api/auth/login"`).
    pub route_settings: BTreeMap<String, ThrottleSettings>,
    /// `CorsConfiguration`, resolved with the parameters' values; `None` when the API has
    /// none (or its `Fn::If` picks `AWS::NoValue`).
    pub cors: Option<Cors>,
}

/// An HTTP API's `CorsConfiguration` (what API Gateway answers preflights with and adds to
/// responses for allowed origins).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Cors {
    /// `AllowOrigins`: exact origins, `*`, or `https://*` / `http://*`.
    pub allow_origins: Vec<String>,
    pub allow_methods: Vec<String>,
    pub allow_headers: Vec<String>,
    pub expose_headers: Vec<String>,
    pub allow_credentials: bool,
    /// `MaxAge` in seconds.
    pub max_age: Option<u64>,
}

/// One HTTP API route of a function (`Events: X: Type: HttpApi`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpRoute {
    /// Upper-case method, `ANY` for any method.
    pub method: String,
    /// Path with `{param}` / `{proxy+}` segments, or `$default` for the catch-all route.
    pub path: String,
}

impl HttpRoute {
    /// `"METHOD /path"`, or `$default`.
    pub fn route_key(&self) -> String {
        if self.is_default() {
            DEFAULT_ROUTE_KEY.to_string()
        } else {
            format!("{} {}", self.method, self.path)
        }
    }

    /// Whether this is the `$default` (catch-all) route.
    pub fn is_default(&self) -> bool {
        self.path == DEFAULT_ROUTE_KEY
    }
}

/// An event source of a function.
#[derive(Debug, Clone, PartialEq)]
pub enum EventSource {
    HttpApi(HttpRoute),
    /// `Type: Schedule` (EventBridge rule) or `Type: ScheduleV2` (EventBridge Scheduler).
    Schedule(ScheduleSource),
    /// `Type: SQS` (an event-source mapping).
    Sqs(SqsSource),
    /// Any other event type, kept raw.
    Other {
        kind: String,
        properties: Json,
    },
}

/// A `Schedule` or `ScheduleV2` event of a function.
#[derive(Debug, Clone, PartialEq)]
pub struct ScheduleSource {
    /// `Schedule` or `ScheduleV2`.
    pub kind: String,
    /// `ScheduleExpression` (or `Schedule`, SAM's name for it in `Type: Schedule`).
    pub expression: ScheduleExpression,
    /// `Input`, parsed: when set, the function receives it instead of the scheduled event.
    pub input: Option<Json>,
    /// `Enabled` / `State`: disabled schedules never fire on their own (`fire` still works).
    pub enabled: bool,
    /// `Name`; else the name SAM gives the rule or schedule (see [`ScheduleSource::arn`]).
    pub name: String,
}

impl ScheduleSource {
    /// Whether this is an EventBridge Scheduler schedule (`ScheduleV2`).
    pub fn is_v2(&self) -> bool {
        self.kind == "ScheduleV2"
    }

    /// The ARN the scheduled event names in `resources`: the rule's
    /// (`arn:aws:events:…:rule/<name>`), or for `ScheduleV2` the schedule's
    /// (`arn:aws:scheduler:…:schedule/default/<name>`).
    pub fn arn(&self) -> String {
        if self.is_v2() {
            format!(
                "arn:aws:scheduler:{LOCAL_REGION}:{LOCAL_ACCOUNT_ID}:schedule/default/{}",
                self.name
            )
        } else {
            format!(
                "arn:aws:events:{LOCAL_REGION}:{LOCAL_ACCOUNT_ID}:rule/{}",
                self.name
            )
        }
    }
}

/// Lambda's default `BatchSize` for SQS.
pub const DEFAULT_SQS_BATCH_SIZE: u32 = 10;

/// An `SQS` event of a function (an event-source mapping).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SqsSource {
    /// ARN of the queue (`Queue`).
    pub queue_arn: String,
    /// Name of the queue (the ARN's last part).
    pub queue_name: String,
    /// The template's queue resource, when `Queue` names one.
    pub queue_logical_id: Option<String>,
    /// `BatchSize` (default 10).
    pub batch_size: u32,
    /// `MaximumBatchingWindowInSeconds` (default 0).
    pub maximum_batching_window_secs: u32,
    /// `FunctionResponseTypes` contains `ReportBatchItemFailures`.
    pub report_batch_item_failures: bool,
    /// `ScalingConfig.MaximumConcurrency`.
    pub maximum_concurrency: Option<u32>,
    /// `Enabled` (default true).
    pub enabled: bool,
}

/// One named entry of a function's `Events`.
#[derive(Debug, Clone, PartialEq)]
pub struct FunctionEvent {
    pub name: String,
    pub source: EventSource,
}

/// An `AWS::Serverless::Function`.
#[derive(Debug, Clone, PartialEq)]
pub struct Function {
    pub logical_id: String,
    /// `Metadata.BuildProperties.Binary` (the cargo binary name).
    pub binary: String,
    /// `Handler`, function over `Globals` (Lambda passes it as `_HANDLER`); `bootstrap` when
    /// neither sets it. Names the endpoint when one binary serves several functions.
    pub handler: String,
    /// MB, function over `Globals`, else Lambda's default.
    pub memory_size: u32,
    /// Seconds, function over `Globals`, else Lambda's default.
    pub timeout_secs: u32,
    /// `Environment.Variables`, `Globals` merged with the function's (function wins), unresolved.
    pub environment: BTreeMap<String, Json>,
    /// `LoggingConfig`, function over `Globals` key by key.
    pub logging: LoggingConfig,
    pub events: Vec<FunctionEvent>,
}

impl Function {
    /// The function's short name, for log files, sample events and the CLI: its `Handler` when
    /// that names the endpoint, else its binary (`bootstrap` is a runtime's file name, not a
    /// function's).
    pub fn name(&self) -> &str {
        if self.handler.is_empty() || self.handler == "bootstrap" {
            &self.binary
        } else {
            &self.handler
        }
    }
}

/// A function's `LoggingConfig`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LoggingConfig {
    /// `JSON` or `Text`.
    pub log_format: Option<String>,
    pub application_log_level: Option<String>,
    pub system_log_level: Option<String>,
}

impl LoggingConfig {
    /// The variables Lambda sets for this configuration: `AWS_LAMBDA_LOG_FORMAT`, and with the
    /// JSON format `AWS_LAMBDA_LOG_LEVEL` (which `lambda_runtime`'s subscriber obeys).
    pub fn lambda_env(&self) -> Vec<(String, String)> {
        let mut env = Vec::new();
        if let Some(format) = &self.log_format {
            let json = format.eq_ignore_ascii_case("json");
            env.push((
                "AWS_LAMBDA_LOG_FORMAT".to_string(),
                if json { "JSON" } else { "Text" }.to_string(),
            ));
            if json {
                let level = self.application_log_level.as_deref().unwrap_or("INFO");
                env.push((
                    "AWS_LAMBDA_LOG_LEVEL".to_string(),
                    level.to_ascii_uppercase(),
                ));
            }
        }
        env
    }
}

impl Function {
    /// The HTTP API routes of this function.
    pub fn http_routes(&self) -> impl Iterator<Item = &HttpRoute> {
        self.events.iter().filter_map(|e| match &e.source {
            EventSource::HttpApi(r) => Some(r),
            _ => None,
        })
    }

    /// The `Schedule` / `ScheduleV2` events of this function, with their event names.
    pub fn schedules(&self) -> impl Iterator<Item = (&str, &ScheduleSource)> {
        self.events.iter().filter_map(|e| match &e.source {
            EventSource::Schedule(s) => Some((e.name.as_str(), s)),
            _ => None,
        })
    }

    /// The `SQS` events of this function, with their event names.
    pub fn sqs_sources(&self) -> impl Iterator<Item = (&str, &SqsSource)> {
        self.events.iter().filter_map(|e| match &e.source {
            EventSource::Sqs(s) => Some((e.name.as_str(), s)),
            _ => None,
        })
    }
}

/// `AttributeDefinitions` entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AttributeDefinition {
    pub name: String,
    /// `S`, `N` or `B`.
    pub kind: String,
}

/// `KeySchema` entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeySchemaElement {
    pub name: String,
    /// `HASH` or `RANGE`.
    pub key_type: String,
}

/// `Projection` of an index.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Projection {
    /// `ALL`, `KEYS_ONLY` or `INCLUDE`.
    pub projection_type: String,
    pub non_key_attributes: Vec<String>,
}

/// A global or local secondary index.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SecondaryIndex {
    pub name: String,
    pub key_schema: Vec<KeySchemaElement>,
    pub projection: Projection,
    /// (read, write) capacity units, for provisioned tables.
    pub provisioned_throughput: Option<(i64, i64)>,
}

/// `TimeToLiveSpecification`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TimeToLive {
    pub attribute_name: String,
    pub enabled: bool,
}

/// An `AWS::DynamoDB::Table`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Table {
    pub logical_id: String,
    /// `TableName`, else the logical id.
    pub name: String,
    pub attribute_definitions: Vec<AttributeDefinition>,
    pub key_schema: Vec<KeySchemaElement>,
    pub global_secondary_indexes: Vec<SecondaryIndex>,
    pub local_secondary_indexes: Vec<SecondaryIndex>,
    pub time_to_live: Option<TimeToLive>,
    /// `PAY_PER_REQUEST` (default) or `PROVISIONED`.
    pub billing_mode: String,
    /// (read, write) capacity units, for provisioned tables.
    pub provisioned_throughput: Option<(i64, i64)>,
    /// `StreamSpecification.StreamViewType`.
    pub stream_view_type: Option<String>,
}

/// `RedrivePolicy` of a queue.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RedrivePolicy {
    /// ARN of the dead-letter queue.
    pub dead_letter_target_arn: String,
    pub max_receive_count: u32,
}

/// An `AWS::SQS::Queue`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Queue {
    pub logical_id: String,
    /// `QueueName`, else the logical id (plus `.fifo` for FIFO queues).
    pub name: String,
    pub visibility_timeout: Option<u32>,
    pub message_retention_period: Option<u32>,
    pub delay_seconds: Option<u32>,
    pub receive_message_wait_time_seconds: Option<u32>,
    pub maximum_message_size: Option<u32>,
    pub fifo: bool,
    pub content_based_deduplication: bool,
    pub redrive_policy: Option<RedrivePolicy>,
}

impl Queue {
    /// ARN of this queue in the local account.
    pub fn arn(&self) -> String {
        queue_arn(&self.name)
    }

    /// URL of this queue on the given endpoint (moto's `<endpoint>/<account>/<name>` form).
    pub fn url(&self, endpoint: &str) -> String {
        queue_url(endpoint, &self.name)
    }
}

/// ARN of the queue `name` in the local account.
pub(super) fn queue_arn(name: &str) -> String {
    format!("arn:aws:sqs:{LOCAL_REGION}:{LOCAL_ACCOUNT_ID}:{name}")
}

/// URL of the queue `name` at `endpoint` (moto's `<endpoint>/<account>/<name>` form).
pub(crate) fn queue_url(endpoint: &str, name: &str) -> String {
    format!(
        "{}/{LOCAL_ACCOUNT_ID}/{name}",
        endpoint.trim_end_matches('/')
    )
}

/// ARN of the table `name` in the local account.
pub(super) fn table_arn(name: &str) -> String {
    format!("arn:aws:dynamodb:{LOCAL_REGION}:{LOCAL_ACCOUNT_ID}:table/{name}")
}

/// Where the local stand-ins are, for resolving intrinsics that point at them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LocalContext {
    /// Endpoint of the AWS stand-in (moto), e.g. `http://127.0.0.1:5005`.
    pub aws_endpoint: String,
    /// URL of the local cache, e.g. `rediss://127.0.0.1:41000` (empty: none).
    pub redis_url: String,
    /// The CA the cache's certificate is signed by: functions with a cache variable get it as
    /// `SSL_CERT_FILE` (the root store their TLS client reads).
    pub cache_ca: Option<PathBuf>,
}

/// A parsed `template.yaml`.
#[derive(Debug, Clone)]
pub struct Template {
    /// File the template was read from.
    pub path: PathBuf,
    pub parameters: BTreeMap<String, Parameter>,
    /// The HTTP API (throttling). Empty settings when the template declares none.
    pub http_api: HttpApi,
    pub functions: Vec<Function>,
    pub tables: Vec<Table>,
    pub queues: Vec<Queue>,
    /// Raw `Resources` (long-form intrinsics), for resolving references.
    pub(super) resources: Map<String, Json>,
    /// Raw `Conditions` (long-form intrinsics), evaluated with the parameters' values.
    pub(super) conditions: Map<String, Json>,
    /// Resources whose `Condition` is false with these parameters: CloudFormation creates
    /// none of them, so the local stack has none either (no function, route, table, queue).
    pub(super) left_out: BTreeSet<String>,
    /// `AWS::StackName` (and the name in `AWS::StackId`).
    pub(super) stack_name: String,
}

impl Template {
    /// The function with this logical id.
    pub fn function(&self, logical_id: &str) -> Option<&Function> {
        self.functions.iter().find(|f| f.logical_id == logical_id)
    }

    /// Tables declared by the template.
    pub fn tables(&self) -> &[Table] {
        &self.tables
    }

    /// Queues declared by the template.
    pub fn queues(&self) -> &[Queue] {
        &self.queues
    }

    /// `Default` of a parameter.
    pub fn parameter_default(&self, name: &str) -> Option<&str> {
        self.parameters.get(name)?.default.as_deref()
    }

    /// A parameter's value in this stack: the one given ([`Template::parse_with`]), else its
    /// `Default`.
    pub fn parameter_value(&self, name: &str) -> Option<&str> {
        self.parameters.get(name)?.value()
    }

    /// Whether the resource `logical_id` is created with these parameters: it is declared and
    /// has no `Condition`, or its condition holds.
    pub fn is_created(&self, logical_id: &str) -> bool {
        self.resources.contains_key(logical_id) && !self.left_out.contains(logical_id)
    }

    /// The template as the stack `name` deploys it: `AWS::StackName` and `AWS::StackId` name
    /// it, so whatever the template derives from them (the JWT secret's parameter, the tokens'
    /// issuer and audience) differs between two local stacks as between two stacks in AWS.
    /// Names derived while parsing (schedule names in events) keep the default's.
    pub fn with_stack_name(mut self, name: impl Into<String>) -> Self {
        self.stack_name = name.into();
        self
    }

    /// `AWS::StackName`.
    pub fn stack_name(&self) -> &str {
        &self.stack_name
    }
}
