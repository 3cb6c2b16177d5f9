//! Reads the SAM template (`template.yaml`) into what the local stack needs.
//!
//! `template.yaml` is the single source of truth for routes, throttling, functions, tables and
//! queues, so the local stack derives everything from it instead of keeping its own copy.
//!
//! CloudFormation short tags (`!Ref`, `!Sub`, `!GetAtt`, ...) are normalised to their long form
//! (`{"Ref": ..}`, `{"Fn::Sub": ..}`, `{"Fn::GetAtt": [res, attr]}`) while loading, so the rest of
//! the code only deals with one shape. Intrinsics are resolved for local use by
//! [`Template::resolve`] / [`Template::function_env`].
//!
//! ```no_run
//! let t = rota_local::template::Template::load("template.yaml")?;
//! for r in t.routes() {
//!     println!("{} {} -> {} ({})", r.method, r.path, r.function, r.binary);
//! }
//! # Ok::<(), rota_local::template::TemplateError>(())
//! ```

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use serde_json::{Map, Value as Json};

use crate::schedule::ScheduleExpression;

/// Account id used for every locally built ARN and queue URL (moto's default account).
pub const LOCAL_ACCOUNT_ID: &str = "123456789012";
/// Region of the local stack.
pub const LOCAL_REGION: &str = "us-east-1";
/// Stack name reported for `AWS::StackName`.
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

/// Lambda's defaults when neither the function nor `Globals` set them.
const DEFAULT_MEMORY_MB: u32 = 128;
const DEFAULT_TIMEOUT_SECS: u32 = 3;

/// Guards against templates whose intrinsics refer to each other in a loop.
const MAX_RESOLVE_DEPTH: usize = 16;

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
    /// `CorsConfiguration`, resolved with the parameters' defaults; `None` when the API has
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

/// A route with the function behind it, as returned by [`Template::routes`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RouteInfo {
    /// Upper-case method (`ANY` for any method, and for `$default`).
    pub method: String,
    /// Path, or `$default` for the catch-all route.
    pub path: String,
    /// Logical id of the function.
    pub function: String,
    /// Binary name of the function.
    pub binary: String,
}

impl RouteInfo {
    /// `"METHOD /path"`, or `$default`.
    pub fn route_key(&self) -> String {
        HttpRoute {
            method: self.method.clone(),
            path: self.path.clone(),
        }
        .route_key()
    }

    /// Whether this is the `$default` (catch-all) route.
    pub fn is_default(&self) -> bool {
        self.path == DEFAULT_ROUTE_KEY
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

fn queue_arn(name: &str) -> String {
    format!("arn:aws:sqs:{LOCAL_REGION}:{LOCAL_ACCOUNT_ID}:{name}")
}

fn queue_url(endpoint: &str, name: &str) -> String {
    format!(
        "{}/{LOCAL_ACCOUNT_ID}/{name}",
        endpoint.trim_end_matches('/')
    )
}

fn table_arn(name: &str) -> String {
    format!("arn:aws:dynamodb:{LOCAL_REGION}:{LOCAL_ACCOUNT_ID}:table/{name}")
}

/// Where the local stand-ins are, for resolving intrinsics that point at them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LocalContext {
    /// Endpoint of the AWS stand-in (moto), e.g. `http://127.0.0.1:5005`.
    pub aws_endpoint: String,
    /// URL of the local Redis, e.g. `redis://127.0.0.1:6379`.
    pub redis_url: String,
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
    resources: Map<String, Json>,
    /// Raw `Conditions` (long-form intrinsics), evaluated with the parameters' defaults.
    conditions: Map<String, Json>,
}

/// Template text as JSON, with CloudFormation short tags (`!Sub`, `!Ref`, ...) in their long
/// form and YAML merge keys applied: the shape [`Template::parse`] reads, for checks that need
/// more of the template than the local stack does (`tests/tests/template_security.rs`).
pub fn template_json(text: &str) -> Result<Json, TemplateError> {
    let mut yaml: serde_yaml_ng::Value =
        serde_yaml_ng::from_str(text).map_err(|error| TemplateError::Yaml {
            path: PathBuf::new(),
            error,
        })?;
    // YAML merge keys (`<<: *anchor`) are legal in templates; resolve them before reading.
    yaml.apply_merge().map_err(|error| TemplateError::Yaml {
        path: PathBuf::new(),
        error,
    })?;
    yaml_to_json(yaml)
}

impl Template {
    /// Reads and parses a template file.
    pub fn load(path: impl AsRef<Path>) -> Result<Self, TemplateError> {
        let path = path.as_ref();
        let text = std::fs::read_to_string(path).map_err(|error| TemplateError::Io {
            path: path.to_path_buf(),
            error,
        })?;
        let mut template = Self::parse(&text).map_err(|e| match e {
            TemplateError::Yaml { error, .. } => TemplateError::Yaml {
                path: path.to_path_buf(),
                error,
            },
            other => other,
        })?;
        template.path = path.to_path_buf();
        Ok(template)
    }

    /// Parses template text.
    pub fn parse(text: &str) -> Result<Self, TemplateError> {
        let root = template_json(text)?;
        let root = root
            .as_object()
            .ok_or_else(|| TemplateError::Invalid("template is not a mapping".into()))?;

        let parameters = parse_parameters(root.get("Parameters"));
        let resources = root
            .get("Resources")
            .and_then(Json::as_object)
            .cloned()
            .ok_or_else(|| TemplateError::Invalid("template has no Resources mapping".into()))?;

        let mut template = Template {
            path: PathBuf::new(),
            parameters,
            http_api: HttpApi::default(),
            functions: Vec::new(),
            tables: Vec::new(),
            queues: Vec::new(),
            resources,
            conditions: root
                .get("Conditions")
                .and_then(Json::as_object)
                .cloned()
                .unwrap_or_default(),
        };

        // Names and numbers may themselves be intrinsics (e.g. `!Sub rota-${Stage}`), so they
        // are resolved against the parameters; nothing here needs the local endpoints.
        let globals_fn = root
            .get("Globals")
            .and_then(|g| g.get("Function"))
            .cloned()
            .unwrap_or(Json::Null);

        let mut http_apis = Vec::new();
        for (id, res) in &template.resources {
            let kind = res.get("Type").and_then(Json::as_str).unwrap_or_default();
            let props = res.get("Properties").cloned().unwrap_or(Json::Null);
            match kind {
                "AWS::Serverless::HttpApi" => http_apis.push(template.parse_http_api(id, &props)?),
                "AWS::Serverless::Function" => {
                    let f = template.parse_function(id, res, &props, &globals_fn)?;
                    template.functions.push(f);
                }
                "AWS::DynamoDB::Table" => {
                    let t = template.parse_table(id, &props)?;
                    template.tables.push(t);
                }
                "AWS::SQS::Queue" => {
                    let q = template.parse_queue(id, &props)?;
                    template.queues.push(q);
                }
                _ => {}
            }
        }
        // The project names its API `RotaHttpApi`; prefer it if a template ever has several.
        http_apis.sort_by_key(|a| a.logical_id != "RotaHttpApi");
        if http_apis.len() > 1 {
            tracing::warn!(
                "template declares {} HTTP APIs; using throttling of {}",
                http_apis.len(),
                http_apis[0].logical_id
            );
        }
        template.http_api = http_apis.into_iter().next().unwrap_or_default();
        Ok(template)
    }

    /// Every HTTP API route with its function, in template order (functions are ordered by
    /// logical id). Includes the `$default` route if declared (see [`RouteInfo::is_default`]).
    pub fn routes(&self) -> Vec<RouteInfo> {
        self.functions
            .iter()
            .flat_map(|f| {
                f.http_routes().map(|r| RouteInfo {
                    method: r.method.clone(),
                    path: r.path.clone(),
                    function: f.logical_id.clone(),
                    binary: f.binary.clone(),
                })
            })
            .collect()
    }

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

    /// Whether a template condition holds, evaluated with the parameters' defaults
    /// (`Fn::Equals`, `Fn::Not`, `Fn::And`, `Fn::Or`, `Condition`).
    pub fn condition(&self, name: &str) -> Result<bool, String> {
        self.condition_at(name, 0)
    }

    fn condition_at(&self, name: &str, depth: usize) -> Result<bool, String> {
        let expr = self
            .conditions
            .get(name)
            .ok_or_else(|| format!("no condition {name}"))?;
        self.condition_expr(expr, depth + 1)
    }

    fn condition_expr(&self, v: &Json, depth: usize) -> Result<bool, String> {
        if depth > MAX_RESOLVE_DEPTH {
            return Err("conditions nest too deeply (circular reference?)".into());
        }
        let m = v
            .as_object()
            .filter(|m| m.len() == 1)
            .ok_or("bad condition")?;
        let (key, arg) = m.iter().next().ok_or("bad condition")?;
        let list = || arg.as_array().ok_or_else(|| format!("{key} takes a list"));
        match key.as_str() {
            "Condition" => self.condition_at(arg.as_str().ok_or("Condition takes a name")?, depth),
            "Fn::Equals" => match list()?.as_slice() {
                [a, b] => Ok(self.resolve(a, None)? == self.resolve(b, None)?),
                _ => Err("Fn::Equals takes two values".into()),
            },
            "Fn::Not" => match list()?.as_slice() {
                [c] => Ok(!self.condition_expr(c, depth + 1)?),
                _ => Err("Fn::Not takes one condition".into()),
            },
            "Fn::And" => list()?
                .iter()
                .try_fold(true, |acc, c| Ok(acc & self.condition_expr(c, depth + 1)?)),
            "Fn::Or" => list()?
                .iter()
                .try_fold(false, |acc, c| Ok(acc | self.condition_expr(c, depth + 1)?)),
            other => Err(format!("{other} is not a condition function")),
        }
    }

    /// `v` with `Fn::If` decided (recursively at the top), `None` for `AWS::NoValue`.
    fn select(&self, v: &Json, depth: usize) -> Result<Option<Json>, String> {
        if depth > MAX_RESOLVE_DEPTH {
            return Err("Fn::If nests too deeply".into());
        }
        if v.get("Ref").and_then(Json::as_str) == Some("AWS::NoValue") {
            return Ok(None);
        }
        if let Some(Json::Array(args)) = v.get("Fn::If")
            && v.as_object().is_some_and(|m| m.len() == 1)
        {
            let [cond, yes, no] = args.as_slice() else {
                return Err("Fn::If takes [condition, then, else]".into());
            };
            let cond = cond.as_str().ok_or("Fn::If condition is not a name")?;
            let branch = if self.condition(cond)? { yes } else { no };
            return self.select(branch, depth + 1);
        }
        Ok(Some(v.clone()))
    }

    /// A list of strings: a YAML list (items may be intrinsics), `Fn::Split`, or a value
    /// (e.g. a `Ref` to a `CommaDelimitedList`) split on commas.
    fn string_list(&self, v: &Json) -> Result<Vec<String>, String> {
        let Some(v) = self.select(v, 0)? else {
            return Ok(Vec::new());
        };
        let items = match &v {
            Json::Array(items) => items
                .iter()
                .map(|i| self.resolve(i, None))
                .collect::<Result<Vec<_>, _>>()?,
            Json::Object(m) if m.contains_key("Fn::Split") => {
                let args = m["Fn::Split"].as_array().ok_or("Fn::Split takes a list")?;
                let [delim, source] = args.as_slice() else {
                    return Err("Fn::Split takes [delimiter, string]".into());
                };
                let delim = self.resolve(delim, None)?;
                if delim.is_empty() {
                    return Err("Fn::Split delimiter is empty".into());
                }
                let source = self.resolve(source, None)?;
                source.split(delim.as_str()).map(str::to_string).collect()
            }
            other => self
                .resolve(other, None)?
                .split(',')
                .map(str::to_string)
                .collect(),
        };
        Ok(items
            .into_iter()
            .map(|i| i.trim().to_string())
            .filter(|i| !i.is_empty())
            .collect())
    }

    fn parse_cors(&self, id: &str, v: &Json) -> Result<Option<Cors>, String> {
        let Some(v) = self.select(v, 0)? else {
            return Ok(None);
        };
        // SAM's shorthand: `CorsConfiguration: true` allows every origin.
        if let Json::Bool(on) = v {
            return Ok(on.then(|| Cors {
                allow_origins: vec!["*".into()],
                ..Cors::default()
            }));
        }
        if !v.is_object() {
            return Err(format!(
                "{id}: CorsConfiguration is neither a mapping nor a boolean"
            ));
        }
        let list = |key: &str| match v.get(key) {
            Some(x) => self.string_list(x).map_err(|e| format!("{id}: {key}: {e}")),
            None => Ok(Vec::new()),
        };
        let scalar = |key: &str| -> Result<Option<String>, String> {
            match v.get(key).map(|x| self.select(x, 0)).transpose()?.flatten() {
                Some(x) => self.resolve(&x, None).map(Some),
                None => Ok(None),
            }
        };
        Ok(Some(Cors {
            allow_origins: list("AllowOrigins")?,
            allow_methods: list("AllowMethods")?,
            allow_headers: list("AllowHeaders")?,
            expose_headers: list("ExposeHeaders")?,
            allow_credentials: scalar("AllowCredentials")?.is_some_and(|s| s == "true"),
            max_age: scalar("MaxAge")?
                .map(|s| s.trim().parse::<u64>())
                .transpose()
                .map_err(|_| format!("{id}: MaxAge is not a number of seconds"))?,
        }))
    }

    /// Effective throttling of a route key (`"POST /api/auth/login"` or `$default`): the route's
    /// settings, else the API's `DefaultRouteSettings`, else the account-level limits.
    pub fn throttle_for(&self, route_key: &str) -> Throttle {
        let route = self
            .http_api
            .route_settings
            .get(&normalize_route_key(route_key))
            .copied()
            .unwrap_or_default();
        let default = self.http_api.default_route_settings;
        Throttle {
            rate: route
                .rate_limit
                .or(default.rate_limit)
                .unwrap_or(ACCOUNT_RATE_LIMIT),
            burst: route
                .burst_limit
                .or(default.burst_limit)
                .unwrap_or(ACCOUNT_BURST_LIMIT),
        }
    }

    /// The function's environment for local runs: every variable resolved, with those that
    /// point at the cache (or are named `REDIS_URL`) set to the local Redis. Variables that
    /// cannot be resolved locally are logged and left out.
    pub fn function_env(
        &self,
        function: &Function,
        ctx: &LocalContext,
    ) -> BTreeMap<String, String> {
        let caches = self.cache_ids();
        let mut env = BTreeMap::new();
        for (name, raw) in &function.environment {
            if name == "REDIS_URL" || mentions_any(raw, &caches) {
                env.insert(name.clone(), ctx.redis_url.clone());
                continue;
            }
            match self.resolve(raw, Some(ctx)) {
                Ok(v) => {
                    env.insert(name.clone(), v);
                }
                Err(why) => tracing::warn!(
                    "{}: leaving out environment variable {name}: {why}",
                    function.logical_id
                ),
            }
        }
        env
    }

    /// Resolves a (possibly intrinsic) value to a string for local use. `ctx` is needed for
    /// references to queues (URLs) and the cache; without it those are unresolvable.
    pub fn resolve(&self, value: &Json, ctx: Option<&LocalContext>) -> Result<String, String> {
        Resolver {
            template: self,
            ctx,
        }
        .value(value, 0)
    }

    /// Logical ids of cache resources (ElastiCache), plus the project's name for it.
    fn cache_ids(&self) -> BTreeSet<String> {
        let mut ids: BTreeSet<String> = self
            .resources
            .iter()
            .filter(|(_, r)| {
                r.get("Type")
                    .and_then(Json::as_str)
                    .is_some_and(|t| t.starts_with("AWS::ElastiCache::"))
            })
            .map(|(id, _)| id.clone())
            .collect();
        ids.insert("RotaCache".to_string());
        ids
    }

    fn resource_type(&self, id: &str) -> Option<&str> {
        self.resources.get(id)?.get("Type")?.as_str()
    }

    fn resource_prop(&self, id: &str, prop: &str) -> Option<&Json> {
        self.resources.get(id)?.get("Properties")?.get(prop)
    }

    fn parse_http_api(&self, id: &str, props: &Json) -> Result<HttpApi, TemplateError> {
        let route_settings = props
            .get("RouteSettings")
            .and_then(Json::as_object)
            .map(|m| {
                m.iter()
                    .map(|(k, v)| (normalize_route_key(k), self.throttle_settings(v)))
                    .collect()
            })
            .unwrap_or_default();
        let cors = match props.get("CorsConfiguration") {
            Some(v) => self.parse_cors(id, v).map_err(TemplateError::Invalid)?,
            None => None,
        };
        Ok(HttpApi {
            logical_id: id.to_string(),
            default_route_settings: props
                .get("DefaultRouteSettings")
                .map(|v| self.throttle_settings(v))
                .unwrap_or_default(),
            route_settings,
            cors,
        })
    }

    fn throttle_settings(&self, v: &Json) -> ThrottleSettings {
        ThrottleSettings {
            rate_limit: v
                .get("ThrottlingRateLimit")
                .and_then(|x| self.resolve(x, None).ok())
                .and_then(|s| s.trim().parse::<f64>().ok())
                .filter(|r| r.is_finite() && *r >= 0.0),
            burst_limit: v
                .get("ThrottlingBurstLimit")
                .and_then(|x| self.resolve(x, None).ok())
                .and_then(|s| s.trim().parse::<u64>().ok()),
        }
    }

    fn parse_function(
        &self,
        id: &str,
        res: &Json,
        props: &Json,
        globals: &Json,
    ) -> Result<Function, TemplateError> {
        let binary = match res
            .get("Metadata")
            .and_then(|m| m.get("BuildProperties"))
            .and_then(|b| b.get("Binary"))
            .and_then(|b| self.resolve(b, None).ok())
        {
            Some(b) => b,
            None => {
                tracing::warn!(
                    "{id}: no Metadata.BuildProperties.Binary; assuming the binary is named {id}"
                );
                id.to_string()
            }
        };
        let number = |key: &str, default: u32| -> Result<u32, TemplateError> {
            match props.get(key).or_else(|| globals.get(key)) {
                None | Some(Json::Null) => Ok(default),
                Some(v) => self
                    .resolve(v, None)
                    .ok()
                    .and_then(|s| s.trim().parse::<u32>().ok())
                    .ok_or_else(|| TemplateError::Invalid(format!("{id}: {key} is not a number"))),
            }
        };
        let memory_size = number("MemorySize", DEFAULT_MEMORY_MB)?;
        let timeout_secs = number("Timeout", DEFAULT_TIMEOUT_SECS)?;

        let mut environment = BTreeMap::new();
        for source in [globals, props] {
            if let Some(vars) = source
                .get("Environment")
                .and_then(|e| e.get("Variables"))
                .and_then(Json::as_object)
            {
                for (k, v) in vars {
                    environment.insert(k.clone(), v.clone());
                }
            }
        }

        let logging_value = |key: &str| {
            [props, globals].iter().find_map(|src| {
                src.get("LoggingConfig")
                    .and_then(|l| l.get(key))
                    .and_then(|v| self.resolve(v, None).ok())
            })
        };
        let logging = LoggingConfig {
            log_format: logging_value("LogFormat"),
            application_log_level: logging_value("ApplicationLogLevel"),
            system_log_level: logging_value("SystemLogLevel"),
        };

        let mut events = Vec::new();
        if let Some(evs) = props.get("Events").and_then(Json::as_object) {
            for (name, ev) in evs {
                let kind = ev.get("Type").and_then(Json::as_str).unwrap_or_default();
                let eprops = ev.get("Properties").cloned().unwrap_or(Json::Null);
                let source = if kind == "HttpApi" {
                    if let Some(v) = eprops.get("PayloadFormatVersion")
                        && self.resolve(v, None).ok().as_deref() != Some("2.0")
                    {
                        tracing::warn!(
                            "{id}.{name}: only payload format 2.0 is emulated; using it anyway"
                        );
                    }
                    let path = eprops
                        .get("Path")
                        .and_then(|p| self.resolve(p, None).ok())
                        .unwrap_or_else(|| DEFAULT_ROUTE_KEY.to_string());
                    let method = eprops
                        .get("Method")
                        .and_then(|m| self.resolve(m, None).ok())
                        .map(|m| m.trim().to_ascii_uppercase())
                        .unwrap_or_else(|| "ANY".to_string());
                    let method = if method == "*" { "ANY".into() } else { method };
                    EventSource::HttpApi(HttpRoute { method, path })
                } else if kind == "Schedule" || kind == "ScheduleV2" {
                    EventSource::Schedule(self.parse_schedule(id, name, kind, &eprops)?)
                } else if kind == "SQS" {
                    EventSource::Sqs(self.parse_sqs(id, name, &eprops)?)
                } else {
                    EventSource::Other {
                        kind: kind.to_string(),
                        properties: eprops,
                    }
                };
                events.push(FunctionEvent {
                    name: name.clone(),
                    source,
                });
            }
        }

        Ok(Function {
            logical_id: id.to_string(),
            binary,
            memory_size,
            timeout_secs,
            environment,
            logging,
            events,
        })
    }

    fn parse_schedule(
        &self,
        id: &str,
        event: &str,
        kind: &str,
        props: &Json,
    ) -> Result<ScheduleSource, TemplateError> {
        let invalid = |what: String| TemplateError::Invalid(format!("{id}.{event}: {what}"));
        let text = |key: &str| -> Result<Option<String>, TemplateError> {
            match props.get(key) {
                None | Some(Json::Null) => Ok(None),
                Some(v) => self
                    .resolve(v, None)
                    .map(Some)
                    .map_err(|e| invalid(format!("{key}: {e}"))),
            }
        };
        // SAM spells it `Schedule` for `Type: Schedule` and `ScheduleExpression` for ScheduleV2;
        // either is accepted for both.
        let expression = match (text("ScheduleExpression")?, text("Schedule")?) {
            (Some(e), _) | (None, Some(e)) => e,
            (None, None) => return Err(invalid("no ScheduleExpression".into())),
        };
        let expression =
            ScheduleExpression::parse(&expression).map_err(|e| invalid(e.to_string()))?;
        if let Some(tz) = text("ScheduleExpressionTimezone")?
            && !matches!(tz.as_str(), "UTC" | "Etc/UTC" | "GMT" | "Etc/GMT")
        {
            tracing::warn!(
                "{id}.{event}: ScheduleExpressionTimezone {tz} is not emulated; \
                 rota-local fires {expression} in UTC"
            );
        }
        for key in ["StartDate", "EndDate"] {
            if props.get(key).is_some() {
                tracing::warn!("{id}.{event}: {key} is not emulated");
            }
        }
        let input = match text("Input")? {
            None => None,
            Some(raw) => Some(
                serde_json::from_str::<Json>(&raw)
                    .map_err(|e| invalid(format!("Input is not valid JSON: {e}")))?,
            ),
        };
        let enabled = match (text("Enabled")?, text("State")?) {
            (Some(e), _) if e.eq_ignore_ascii_case("false") => false,
            (_, Some(state)) => !state.eq_ignore_ascii_case("DISABLED"),
            _ => true,
        };
        let name = match text("Name")? {
            Some(n) => n,
            // SAM names a ScheduleV2 schedule after its logical id; a Schedule's rule gets a
            // name CloudFormation generates from the stack and the logical id.
            None if kind == "ScheduleV2" => format!("{id}{event}"),
            None => format!("{LOCAL_STACK_NAME}-{id}{event}"),
        };
        Ok(ScheduleSource {
            kind: kind.to_string(),
            expression,
            input,
            enabled,
            name,
        })
    }

    fn parse_sqs(&self, id: &str, event: &str, props: &Json) -> Result<SqsSource, TemplateError> {
        let invalid = |what: String| TemplateError::Invalid(format!("{id}.{event}: {what}"));
        let number = |key: &str, value: Option<&Json>, default: Option<u32>, range: (u32, u32)| {
            let n = match value {
                None | Some(Json::Null) => return Ok(default),
                Some(v) => self
                    .resolve(v, None)
                    .ok()
                    .and_then(|s| s.trim().parse::<u32>().ok())
                    .ok_or_else(|| invalid(format!("{key} is not a number")))?,
            };
            if n < range.0 || n > range.1 {
                return Err(invalid(format!(
                    "{key} {n} is out of range ({}-{})",
                    range.0, range.1
                )));
            }
            Ok(Some(n))
        };
        let queue = props
            .get("Queue")
            .ok_or_else(|| invalid("no Queue".into()))?;
        let queue_arn = self
            .resolve(queue, None)
            .map_err(|e| invalid(format!("Queue: {e}")))?;
        let queue_name = queue_arn
            .strip_prefix("arn:")
            .filter(|rest| rest.split(':').nth(1) == Some("sqs"))
            .and_then(|rest| rest.rsplit(':').next())
            .filter(|n| !n.is_empty())
            .ok_or_else(|| invalid(format!("Queue {queue_arn} is not an SQS queue ARN")))?
            .to_string();
        // `!GetAtt Queue.Arn` names the resource; a literal ARN may still match one by name.
        let queue_logical_id = match queue.get("Fn::GetAtt").and_then(Json::as_array) {
            Some(a) if a.first().and_then(Json::as_str).is_some() => {
                a[0].as_str().map(str::to_string)
            }
            _ => self
                .resources
                .iter()
                .filter(|(_, r)| r.get("Type").and_then(Json::as_str) == Some("AWS::SQS::Queue"))
                .map(|(qid, _)| qid)
                .find(|qid| self.queue_name(qid, 0).ok().as_deref() == Some(&queue_name))
                .cloned(),
        };
        let fifo = queue_name.ends_with(".fifo");
        let batch_size = number(
            "BatchSize",
            props.get("BatchSize"),
            Some(DEFAULT_SQS_BATCH_SIZE),
            (1, if fifo { 10 } else { 10_000 }),
        )?
        .unwrap_or(DEFAULT_SQS_BATCH_SIZE);
        let window = number(
            "MaximumBatchingWindowInSeconds",
            props.get("MaximumBatchingWindowInSeconds"),
            Some(0),
            (0, 300),
        )?
        .unwrap_or(0);
        if batch_size > 10 && window == 0 {
            return Err(invalid(
                "a BatchSize over 10 needs MaximumBatchingWindowInSeconds of at least 1".into(),
            ));
        }
        let mut report_batch_item_failures = false;
        if let Some(types) = props.get("FunctionResponseTypes") {
            let types = types
                .as_array()
                .ok_or_else(|| invalid("FunctionResponseTypes is not a list".into()))?;
            for t in types {
                match self.resolve(t, None).as_deref() {
                    Ok("ReportBatchItemFailures") => report_batch_item_failures = true,
                    other => {
                        return Err(invalid(format!(
                            "unknown FunctionResponseTypes entry {other:?}"
                        )));
                    }
                }
            }
        }
        let maximum_concurrency = number(
            "ScalingConfig.MaximumConcurrency",
            props
                .get("ScalingConfig")
                .and_then(|s| s.get("MaximumConcurrency")),
            None,
            (2, 1000),
        )?;
        let enabled = props
            .get("Enabled")
            .and_then(|v| self.resolve(v, None).ok())
            .is_none_or(|v| !v.eq_ignore_ascii_case("false"));
        if props.get("FilterCriteria").is_some() {
            tracing::warn!(
                "{id}.{event}: FilterCriteria is not emulated; every message reaches the function"
            );
        }
        Ok(SqsSource {
            queue_arn,
            queue_name,
            queue_logical_id,
            batch_size,
            maximum_batching_window_secs: window,
            report_batch_item_failures,
            maximum_concurrency,
            enabled,
        })
    }

    fn table_name(&self, id: &str, depth: usize) -> Result<String, String> {
        match self.resource_prop(id, "TableName") {
            Some(v) => Resolver {
                template: self,
                ctx: None,
            }
            .value(v, depth + 1),
            None => Ok(id.to_string()),
        }
    }

    fn queue_name(&self, id: &str, depth: usize) -> Result<String, String> {
        match self.resource_prop(id, "QueueName") {
            Some(v) => Resolver {
                template: self,
                ctx: None,
            }
            .value(v, depth + 1),
            None => {
                let fifo = self
                    .resource_prop(id, "FifoQueue")
                    .and_then(|v| self.resolve(v, None).ok())
                    .is_some_and(|s| s == "true");
                Ok(if fifo {
                    format!("{id}.fifo")
                } else {
                    id.to_string()
                })
            }
        }
    }

    fn parse_table(&self, id: &str, props: &Json) -> Result<Table, TemplateError> {
        let invalid = |what: &str| TemplateError::Invalid(format!("table {id}: {what}"));
        let name = self.table_name(id, 0).map_err(|e| invalid(&e))?;
        let str_field = |v: &Json, key: &str| -> Result<String, TemplateError> {
            v.get(key)
                .and_then(|x| self.resolve(x, None).ok())
                .ok_or_else(|| invalid(&format!("missing {key}")))
        };
        let key_schema = |v: Option<&Json>| -> Result<Vec<KeySchemaElement>, TemplateError> {
            v.and_then(Json::as_array)
                .map(Vec::as_slice)
                .unwrap_or_default()
                .iter()
                .map(|k| {
                    Ok(KeySchemaElement {
                        name: str_field(k, "AttributeName")?,
                        key_type: str_field(k, "KeyType")?,
                    })
                })
                .collect()
        };
        let throughput = |v: Option<&Json>| -> Option<(i64, i64)> {
            let v = v?;
            let n = |k: &str| self.resolve(v.get(k)?, None).ok()?.parse::<i64>().ok();
            Some((n("ReadCapacityUnits")?, n("WriteCapacityUnits")?))
        };
        let indexes = |v: Option<&Json>| -> Result<Vec<SecondaryIndex>, TemplateError> {
            v.and_then(Json::as_array)
                .map(Vec::as_slice)
                .unwrap_or_default()
                .iter()
                .map(|ix| {
                    let projection = ix.get("Projection").cloned().unwrap_or(Json::Null);
                    Ok(SecondaryIndex {
                        name: str_field(ix, "IndexName")?,
                        key_schema: key_schema(ix.get("KeySchema"))?,
                        projection: Projection {
                            projection_type: projection
                                .get("ProjectionType")
                                .and_then(|p| self.resolve(p, None).ok())
                                .unwrap_or_else(|| "ALL".to_string()),
                            non_key_attributes: projection
                                .get("NonKeyAttributes")
                                .and_then(Json::as_array)
                                .map(Vec::as_slice)
                                .unwrap_or_default()
                                .iter()
                                .filter_map(|a| self.resolve(a, None).ok())
                                .collect(),
                        },
                        provisioned_throughput: throughput(ix.get("ProvisionedThroughput")),
                    })
                })
                .collect()
        };

        let attribute_definitions = props
            .get("AttributeDefinitions")
            .and_then(Json::as_array)
            .map(Vec::as_slice)
            .unwrap_or_default()
            .iter()
            .map(|a| {
                Ok(AttributeDefinition {
                    name: str_field(a, "AttributeName")?,
                    kind: str_field(a, "AttributeType")?,
                })
            })
            .collect::<Result<Vec<_>, TemplateError>>()?;
        let key_schema_v = key_schema(props.get("KeySchema"))?;
        if key_schema_v.is_empty() {
            return Err(invalid("missing KeySchema"));
        }
        let time_to_live = props.get("TimeToLiveSpecification").and_then(|t| {
            Some(TimeToLive {
                attribute_name: self.resolve(t.get("AttributeName")?, None).ok()?,
                enabled: t
                    .get("Enabled")
                    .and_then(|e| self.resolve(e, None).ok())
                    .is_some_and(|e| e == "true"),
            })
        });
        Ok(Table {
            logical_id: id.to_string(),
            name,
            attribute_definitions,
            key_schema: key_schema_v,
            global_secondary_indexes: indexes(props.get("GlobalSecondaryIndexes"))?,
            local_secondary_indexes: indexes(props.get("LocalSecondaryIndexes"))?,
            time_to_live,
            billing_mode: props
                .get("BillingMode")
                .and_then(|b| self.resolve(b, None).ok())
                .unwrap_or_else(|| "PAY_PER_REQUEST".to_string()),
            provisioned_throughput: throughput(props.get("ProvisionedThroughput")),
            stream_view_type: props
                .get("StreamSpecification")
                .and_then(|s| s.get("StreamViewType"))
                .and_then(|s| self.resolve(s, None).ok()),
        })
    }

    fn parse_queue(&self, id: &str, props: &Json) -> Result<Queue, TemplateError> {
        let invalid = |what: &str| TemplateError::Invalid(format!("queue {id}: {what}"));
        let name = self.queue_name(id, 0).map_err(|e| invalid(&e))?;
        let num = |key: &str| -> Result<Option<u32>, TemplateError> {
            match props.get(key) {
                None | Some(Json::Null) => Ok(None),
                Some(v) => self
                    .resolve(v, None)
                    .ok()
                    .and_then(|s| s.trim().parse::<u32>().ok())
                    .map(Some)
                    .ok_or_else(|| invalid(&format!("{key} is not a number"))),
            }
        };
        let flag = |key: &str| {
            props
                .get(key)
                .and_then(|v| self.resolve(v, None).ok())
                .is_some_and(|s| s == "true")
        };
        let redrive_policy = match props.get("RedrivePolicy") {
            None | Some(Json::Null) => None,
            Some(rp) => {
                // CloudFormation accepts the policy as an object or as a JSON string.
                let rp = match rp {
                    Json::String(s) => serde_json::from_str(s)
                        .map_err(|_| invalid("RedrivePolicy is not valid JSON"))?,
                    other => other.clone(),
                };
                let target = rp
                    .get("deadLetterTargetArn")
                    .ok_or_else(|| invalid("RedrivePolicy has no deadLetterTargetArn"))?;
                let dead_letter_target_arn = self
                    .resolve(target, None)
                    .map_err(|e| invalid(&format!("RedrivePolicy.deadLetterTargetArn: {e}")))?;
                let max_receive_count = rp
                    .get("maxReceiveCount")
                    .and_then(|v| self.resolve(v, None).ok())
                    .and_then(|s| s.trim().parse::<u32>().ok())
                    .ok_or_else(|| invalid("RedrivePolicy.maxReceiveCount is not a number"))?;
                Some(RedrivePolicy {
                    dead_letter_target_arn,
                    max_receive_count,
                })
            }
        };
        Ok(Queue {
            logical_id: id.to_string(),
            name,
            visibility_timeout: num("VisibilityTimeout")?,
            message_retention_period: num("MessageRetentionPeriod")?,
            delay_seconds: num("DelaySeconds")?,
            receive_message_wait_time_seconds: num("ReceiveMessageWaitTimeSeconds")?,
            maximum_message_size: num("MaximumMessageSize")?,
            fifo: flag("FifoQueue"),
            content_based_deduplication: flag("ContentBasedDeduplication"),
            redrive_policy,
        })
    }
}

/// `"post   /a"` → `"POST /a"`; `$default` stays.
pub fn normalize_route_key(key: &str) -> String {
    let key = key.trim();
    match key.split_once(char::is_whitespace) {
        Some((method, path)) => format!("{} {}", method.to_ascii_uppercase(), path.trim()),
        None => key.to_string(),
    }
}

fn parse_parameters(v: Option<&Json>) -> BTreeMap<String, Parameter> {
    v.and_then(Json::as_object)
        .map(|m| {
            m.iter()
                .map(|(name, p)| {
                    let default = p.get("Default").and_then(|d| match d {
                        Json::String(s) => Some(s.clone()),
                        Json::Number(n) => Some(n.to_string()),
                        Json::Bool(b) => Some(b.to_string()),
                        // CommaDelimitedList defaults may be written as a YAML list.
                        Json::Array(items) => Some(
                            items
                                .iter()
                                .map(|i| match i {
                                    Json::String(s) => s.clone(),
                                    other => other.to_string(),
                                })
                                .collect::<Vec<_>>()
                                .join(","),
                        ),
                        _ => None,
                    });
                    let param = Parameter {
                        name: name.clone(),
                        kind: p
                            .get("Type")
                            .and_then(Json::as_str)
                            .unwrap_or("String")
                            .to_string(),
                        default,
                    };
                    (name.clone(), param)
                })
                .collect()
        })
        .unwrap_or_default()
}

/// Whether any string inside `v` mentions one of `ids` as a whole identifier (`RotaCache` and
/// `RotaCache.Endpoint` do, `RotaCacheTtl` does not).
fn mentions_any(v: &Json, ids: &BTreeSet<String>) -> bool {
    match v {
        Json::String(s) => ids.iter().any(|id| mentions(s, id)),
        Json::Array(items) => items.iter().any(|i| mentions_any(i, ids)),
        Json::Object(m) => m.values().any(|i| mentions_any(i, ids)),
        _ => false,
    }
}

fn mentions(s: &str, id: &str) -> bool {
    let ident = |c: char| c.is_ascii_alphanumeric() || c == '_';
    s.match_indices(id).any(|(at, _)| {
        let before = s[..at].chars().next_back();
        let after = s[at + id.len()..].chars().next();
        !before.is_some_and(ident) && !after.is_some_and(ident)
    })
}

/// Converts YAML to JSON, turning CloudFormation short tags into their long form.
fn yaml_to_json(v: serde_yaml_ng::Value) -> Result<Json, TemplateError> {
    use serde_yaml_ng::Value as Y;
    Ok(match v {
        Y::Null => Json::Null,
        Y::Bool(b) => Json::Bool(b),
        Y::Number(n) => {
            if let Some(i) = n.as_i64() {
                Json::from(i)
            } else if let Some(u) = n.as_u64() {
                Json::from(u)
            } else {
                n.as_f64()
                    .and_then(serde_json::Number::from_f64)
                    .map(Json::Number)
                    .unwrap_or(Json::Null)
            }
        }
        Y::String(s) => Json::String(s),
        Y::Sequence(items) => Json::Array(
            items
                .into_iter()
                .map(yaml_to_json)
                .collect::<Result<_, _>>()?,
        ),
        Y::Mapping(m) => {
            let mut out = Map::new();
            for (k, v) in m {
                let key = match k {
                    Y::String(s) => s,
                    Y::Number(n) => n.to_string(),
                    Y::Bool(b) => b.to_string(),
                    other => {
                        return Err(TemplateError::Invalid(format!(
                            "unsupported mapping key {other:?}"
                        )));
                    }
                };
                out.insert(key, yaml_to_json(v)?);
            }
            Json::Object(out)
        }
        Y::Tagged(tagged) => {
            let tag = tagged.tag.to_string();
            let name = tag.trim_start_matches('!');
            let key = match name {
                "Ref" | "Condition" => name.to_string(),
                other => format!("Fn::{other}"),
            };
            let mut inner = yaml_to_json(tagged.value)?;
            // `!GetAtt Res.Attr` is the dotted short form of `Fn::GetAtt: [Res, Attr]`.
            if key == "Fn::GetAtt"
                && let Json::String(s) = &inner
                && let Some((res, attr)) = s.split_once('.')
            {
                inner = Json::Array(vec![res.into(), attr.into()]);
            }
            let mut out = Map::new();
            out.insert(key, inner);
            Json::Object(out)
        }
    })
}

struct Resolver<'a> {
    template: &'a Template,
    ctx: Option<&'a LocalContext>,
}

impl Resolver<'_> {
    fn value(&self, v: &Json, depth: usize) -> Result<String, String> {
        if depth > MAX_RESOLVE_DEPTH {
            return Err("intrinsics nest too deeply (circular reference?)".into());
        }
        match v {
            Json::String(s) => Ok(s.clone()),
            Json::Number(n) => Ok(n.to_string()),
            Json::Bool(b) => Ok(b.to_string()),
            Json::Null => Err("value is null".into()),
            Json::Array(_) => Err("value is a list".into()),
            Json::Object(m) => {
                let mut it = m.iter();
                let (Some((key, arg)), None) = (it.next(), it.next()) else {
                    return Err("value is a mapping, not an intrinsic function".into());
                };
                match key.as_str() {
                    "Ref" => {
                        let name = arg.as_str().ok_or("Ref takes a name")?;
                        self.reference(name, depth)
                    }
                    "Fn::GetAtt" => {
                        let (res, attr) = match arg {
                            Json::Array(a) if a.len() == 2 => {
                                (self.value(&a[0], depth + 1)?, self.value(&a[1], depth + 1)?)
                            }
                            Json::String(s) => {
                                let (r, a) = s.split_once('.').ok_or("bad Fn::GetAtt")?;
                                (r.to_string(), a.to_string())
                            }
                            _ => return Err("bad Fn::GetAtt".into()),
                        };
                        self.get_att(&res, &attr, depth)
                    }
                    "Fn::Sub" => self.sub(arg, depth),
                    "Fn::Join" => {
                        let a = arg.as_array().ok_or("Fn::Join takes a list")?;
                        let [delim, items] = a.as_slice() else {
                            return Err("Fn::Join takes [delimiter, list]".into());
                        };
                        let delim = self.value(delim, depth + 1)?;
                        let items = items.as_array().ok_or("Fn::Join takes a list of values")?;
                        let parts = items
                            .iter()
                            .map(|i| self.value(i, depth + 1))
                            .collect::<Result<Vec<_>, _>>()?;
                        Ok(parts.join(&delim))
                    }
                    "Fn::Select" => {
                        let a = arg.as_array().ok_or("Fn::Select takes a list")?;
                        let [index, items] = a.as_slice() else {
                            return Err("Fn::Select takes [index, list]".into());
                        };
                        let index: usize = self
                            .value(index, depth + 1)?
                            .parse()
                            .map_err(|_| "Fn::Select index is not a number")?;
                        let items = items.as_array().ok_or("Fn::Select takes a literal list")?;
                        let item = items.get(index).ok_or("Fn::Select index out of range")?;
                        self.value(item, depth + 1)
                    }
                    other => Err(format!("{other} is not supported locally")),
                }
            }
        }
    }

    fn reference(&self, name: &str, depth: usize) -> Result<String, String> {
        let t = self.template;
        match name {
            "AWS::Region" => return Ok(LOCAL_REGION.into()),
            "AWS::AccountId" => return Ok(LOCAL_ACCOUNT_ID.into()),
            "AWS::StackName" => return Ok(LOCAL_STACK_NAME.into()),
            "AWS::StackId" => {
                return Ok(format!(
                    "arn:aws:cloudformation:{LOCAL_REGION}:{LOCAL_ACCOUNT_ID}:stack/{LOCAL_STACK_NAME}/local"
                ));
            }
            "AWS::Partition" => return Ok("aws".into()),
            "AWS::URLSuffix" => return Ok("amazonaws.com".into()),
            "AWS::NoValue" => return Err("AWS::NoValue".into()),
            _ => {}
        }
        if let Some(p) = t.parameters.get(name) {
            return p
                .default
                .clone()
                .ok_or_else(|| format!("parameter {name} has no Default"));
        }
        let Some(kind) = t.resource_type(name) else {
            return Err(format!("{name} is neither a parameter nor a resource"));
        };
        match kind {
            "AWS::DynamoDB::Table" => t.table_name(name, depth),
            "AWS::SQS::Queue" => {
                let ctx = self.ctx.ok_or("queue URLs need the AWS endpoint")?;
                Ok(queue_url(&ctx.aws_endpoint, &t.queue_name(name, depth)?))
            }
            "AWS::Serverless::Function" | "AWS::Lambda::Function" => Ok(name.to_string()),
            "AWS::Serverless::HttpApi" | "AWS::ApiGatewayV2::Api" => Ok(LOCAL_API_ID.into()),
            "AWS::SSM::Parameter" => match t.resource_prop(name, "Name") {
                Some(v) => self.value(v, depth + 1),
                None => Err(format!("SSM parameter {name} has no Name")),
            },
            k if k.starts_with("AWS::ElastiCache::") => self
                .ctx
                .map(|c| c.redis_url.clone())
                .ok_or_else(|| "cache needs the Redis URL".to_string()),
            other => Err(format!("Ref to {other} {name} is not supported locally")),
        }
    }

    fn get_att(&self, res: &str, attr: &str, depth: usize) -> Result<String, String> {
        let t = self.template;
        let kind = t
            .resource_type(res)
            .ok_or_else(|| format!("no resource {res}"))?;
        match (kind, attr) {
            ("AWS::DynamoDB::Table", "Arn") => Ok(table_arn(&t.table_name(res, depth)?)),
            ("AWS::SQS::Queue", "Arn") => Ok(queue_arn(&t.queue_name(res, depth)?)),
            ("AWS::SQS::Queue", "QueueName") => t.queue_name(res, depth),
            ("AWS::SQS::Queue", "QueueUrl") => {
                let ctx = self.ctx.ok_or("queue URLs need the AWS endpoint")?;
                Ok(queue_url(&ctx.aws_endpoint, &t.queue_name(res, depth)?))
            }
            ("AWS::Serverless::Function" | "AWS::Lambda::Function", "Arn") => Ok(format!(
                "arn:aws:lambda:{LOCAL_REGION}:{LOCAL_ACCOUNT_ID}:function:{res}"
            )),
            (k, _) if k.starts_with("AWS::ElastiCache::") => self
                .ctx
                .map(|c| c.redis_url.clone())
                .ok_or_else(|| "cache needs the Redis URL".to_string()),
            (k, a) => Err(format!("GetAtt {res}.{a} ({k}) is not supported locally")),
        }
    }

    fn sub(&self, arg: &Json, depth: usize) -> Result<String, String> {
        let (text, vars) = match arg {
            Json::String(s) => (s.as_str(), None),
            Json::Array(a) if a.len() == 2 => (
                a[0].as_str().ok_or("Fn::Sub template is not a string")?,
                Some(
                    a[1].as_object()
                        .ok_or("Fn::Sub variables are not a mapping")?,
                ),
            ),
            _ => return Err("bad Fn::Sub".into()),
        };
        let mut out = String::with_capacity(text.len());
        let mut rest = text;
        while let Some(start) = rest.find("${") {
            out.push_str(&rest[..start]);
            let after = &rest[start + 2..];
            let end = after.find('}').ok_or("unterminated ${ in Fn::Sub")?;
            let name = &after[..end];
            if let Some(literal) = name.strip_prefix('!') {
                // `${!Literal}` renders as `${Literal}`.
                out.push_str("${");
                out.push_str(literal);
                out.push('}');
            } else if let Some(v) = vars.and_then(|m| m.get(name)) {
                out.push_str(&self.value(v, depth + 1)?);
            } else if let Some((res, attr)) = name.split_once('.') {
                out.push_str(&self.get_att(res, attr, depth + 1)?);
            } else {
                out.push_str(&self.reference(name, depth + 1)?);
            }
            rest = &after[end + 1..];
        }
        out.push_str(rest);
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const FIXTURE: &str = r#"
AWSTemplateFormatVersion: "2010-09-09"
Transform: AWS::Serverless-2016-10-31
Parameters:
  Stage:
    Type: String
    Default: dev
  JwtSecretParameterName:
    Type: String
    Default: /rota/jwt-secret
Globals:
  Function:
    MemorySize: 256
    Timeout: 10
    LoggingConfig:
      LogFormat: JSON
      ApplicationLogLevel: WARN
    Environment:
      Variables:
        TABLE_NAME: !Ref RotaTable
        JWT_SECRET_PARAM: !Ref JwtSecretParameterName
        LOG_LEVEL: info
        CACHE_ENDPOINT: !GetAtt RotaCache.RedisEndpoint.Address
Resources:
  RotaHttpApi:
    Type: AWS::Serverless::HttpApi
    Properties:
      DefaultRouteSettings:
        ThrottlingRateLimit: 100
        ThrottlingBurstLimit: 50
      RouteSettings:
        "post /api/auth/login":
          ThrottlingRateLimit: 5
          ThrottlingBurstLimit: 10
        "GET /api/x":
          ThrottlingBurstLimit: 3
  RotaTable:
    Type: AWS::DynamoDB::Table
    Properties:
      TableName: !Sub "rota-${Stage}"
      BillingMode: PAY_PER_REQUEST
      AttributeDefinitions:
        - { AttributeName: PK, AttributeType: S }
        - { AttributeName: SK, AttributeType: S }
        - { AttributeName: GSI1PK, AttributeType: S }
      KeySchema:
        - { AttributeName: PK, KeyType: HASH }
        - { AttributeName: SK, KeyType: RANGE }
      GlobalSecondaryIndexes:
        - IndexName: GSI1
          KeySchema:
            - { AttributeName: GSI1PK, KeyType: HASH }
          Projection:
            ProjectionType: INCLUDE
            NonKeyAttributes: [title]
      TimeToLiveSpecification:
        AttributeName: expires_at
        Enabled: true
  RotaCache:
    Type: AWS::ElastiCache::ServerlessCache
    Properties:
      Engine: redis
  JobsDlq:
    Type: AWS::SQS::Queue
  JobsQueue:
    Type: AWS::SQS::Queue
    Properties:
      QueueName: !Sub "${AWS::StackName}-jobs"
      VisibilityTimeout: 60
      RedrivePolicy:
        deadLetterTargetArn: !GetAtt JobsDlq.Arn
        maxReceiveCount: 5
  LoginFunction:
    Type: AWS::Serverless::Function
    Metadata:
      BuildProperties:
        Binary: auth-login
    Properties:
      MemorySize: 1024
      LoggingConfig: { ApplicationLogLevel: DEBUG }
      Environment:
        Variables:
          LOG_LEVEL: debug
          QUEUE_URL: !Ref JobsQueue
          REDIS_URL: redis://prod-cache:6379
          TABLE_ARN: !GetAtt RotaTable.Arn
          JOINED: !Join ["-", [a, !Ref Stage]]
          MISSING: !Ref DoesNotExist
          BUCKET: !GetAtt Bucket.Arn
      Events:
        Api:
          Type: HttpApi
          Properties: { ApiId: !Ref RotaHttpApi, Path: /api/auth/login, Method: post }
  FallbackFunction:
    Type: AWS::Serverless::Function
    Metadata:
      BuildProperties:
        Binary: not-found
    Properties:
      Timeout: 3
      Events:
        Default:
          Type: HttpApi
          Properties: { ApiId: !Ref RotaHttpApi }
        Nightly:
          Type: ScheduleV2
          Properties: { ScheduleExpression: "rate(1 hour)" }
"#;

    fn ctx() -> LocalContext {
        LocalContext {
            aws_endpoint: "http://127.0.0.1:5005".into(),
            redis_url: "redis://127.0.0.1:6379".into(),
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
            .map(|r| (r.route_key(), r.function.clone(), r.binary.clone()))
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

    #[test]
    fn environment_resolution() {
        let t = Template::parse(FIXTURE).unwrap();
        let env = t.function_env(t.function("LoginFunction").unwrap(), &ctx());
        assert_eq!(env["TABLE_NAME"], "rota-dev");
        assert_eq!(env["JWT_SECRET_PARAM"], "/rota/jwt-secret");
        assert_eq!(env["LOG_LEVEL"], "debug");
        assert_eq!(
            env["QUEUE_URL"],
            "http://127.0.0.1:5005/123456789012/rota-local-jobs"
        );
        assert_eq!(env["REDIS_URL"], "redis://127.0.0.1:6379");
        assert_eq!(env["CACHE_ENDPOINT"], "redis://127.0.0.1:6379");
        assert_eq!(
            env["TABLE_ARN"],
            "arn:aws:dynamodb:us-east-1:123456789012:table/rota-dev"
        );
        assert_eq!(env["JOINED"], "a-dev");
        assert!(!env.contains_key("MISSING"));
        assert!(!env.contains_key("BUCKET"));
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
        let q = t
            .queues()
            .iter()
            .find(|q| q.logical_id == "JobsQueue")
            .unwrap();
        assert_eq!(q.name, "rota-local-jobs");
        assert_eq!(q.visibility_timeout, Some(60));
        assert_eq!(
            q.redrive_policy,
            Some(RedrivePolicy {
                dead_letter_target_arn: "arn:aws:sqs:us-east-1:123456789012:JobsDlq".into(),
                max_receive_count: 5
            })
        );
        let dlq = t
            .queues()
            .iter()
            .find(|q| q.logical_id == "JobsDlq")
            .unwrap();
        assert_eq!(dlq.name, "JobsDlq");
        assert_eq!(
            dlq.url("http://127.0.0.1:5005/"),
            "http://127.0.0.1:5005/123456789012/JobsDlq"
        );
    }

    const EVENTS: &str = r#"
Resources:
  Dlq:
    Type: AWS::SQS::Queue
    Properties: { QueueName: !Sub "${AWS::StackName}-dlq" }
  Jobs:
    Type: AWS::SQS::Queue
    Properties:
      QueueName: jobs
      VisibilityTimeout: 60
      RedrivePolicy: { deadLetterTargetArn: !GetAtt Dlq.Arn, maxReceiveCount: 3 }
  Worker:
    Type: AWS::Serverless::Function
    Metadata: { BuildProperties: { Binary: worker } }
    Properties:
      Environment:
        Variables:
          QUEUE_URL: !Ref Jobs
          QUEUE_ARN: !GetAtt Jobs.Arn
          QUEUE_NAME: !GetAtt Jobs.QueueName
          DLQ_URL: !GetAtt Dlq.QueueUrl
          SUBBED: !Sub "${Jobs}|${Jobs.Arn}|${Dlq.QueueName}"
      Events:
        Jobs:
          Type: SQS
          Properties:
            Queue: !GetAtt Jobs.Arn
            BatchSize: 5
            MaximumBatchingWindowInSeconds: 2
            FunctionResponseTypes: [ReportBatchItemFailures]
            ScalingConfig: { MaximumConcurrency: 3 }
        Plain:
          Type: SQS
          Properties: { Queue: "arn:aws:sqs:us-east-1:123456789012:rota-local-dlq" }
        Hourly:
          Type: Schedule
          Properties: { Schedule: rate(1 hour) }
        Nightly:
          Type: ScheduleV2
          Properties:
            ScheduleExpression: cron(0 2 * * ? *)
            Input: '{"job": "nightly"}'
            State: DISABLED
"#;

    #[test]
    fn schedule_and_sqs_events() {
        let t = Template::parse(EVENTS).unwrap();
        let f = t.function("Worker").unwrap();
        assert_eq!(f.http_routes().count(), 0);
        assert!(t.routes().is_empty());

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
    }

    #[test]
    fn queue_references_in_function_environments() {
        let t = Template::parse(EVENTS).unwrap();
        let env = t.function_env(t.function("Worker").unwrap(), &ctx());
        assert_eq!(env["QUEUE_URL"], "http://127.0.0.1:5005/123456789012/jobs");
        assert_eq!(env["QUEUE_ARN"], "arn:aws:sqs:us-east-1:123456789012:jobs");
        assert_eq!(env["QUEUE_NAME"], "jobs");
        assert_eq!(
            env["DLQ_URL"],
            "http://127.0.0.1:5005/123456789012/rota-local-dlq"
        );
        assert_eq!(
            env["SUBBED"],
            "http://127.0.0.1:5005/123456789012/jobs|arn:aws:sqs:us-east-1:123456789012:jobs|rota-local-dlq"
        );
        let jobs = t.queues().iter().find(|q| q.logical_id == "Jobs").unwrap();
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
    fn mentions_is_token_based() {
        assert!(mentions("${RotaCache.RedisEndpoint.Address}", "RotaCache"));
        assert!(mentions("RotaCache", "RotaCache"));
        assert!(!mentions("RotaCacheTtl", "RotaCache"));
    }

    /// The real template: every function resolves its whole environment locally and every
    /// route has a binary. Written against invariants, as the template is still growing.
    #[test]
    fn real_template_resolves() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../template.yaml");
        let t = Template::load(&path).unwrap();
        assert!(!t.functions.is_empty());
        let table_names: Vec<_> = t.tables().iter().map(|t| t.name.clone()).collect();
        let jwt_param = t
            .parameter_default("JwtSecretParameterName")
            .map(str::to_owned);
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
}
