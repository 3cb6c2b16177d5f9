//! Reading a template: the file, its parameters, the HTTP API, and every function with its
//! events. Tables and queues are read in `resources.rs`, schedule and SQS events in
//! `events.rs`; names and numbers that are intrinsics are resolved by `intrinsics.rs`.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use serde_json::Value as Json;

use super::model::{
    Cors, DEFAULT_ROUTE_KEY, EventSource, Function, FunctionEvent, HttpApi, HttpRoute,
    LOCAL_STACK_NAME, LoggingConfig, Parameter, Template, TemplateError, ThrottleSettings,
};
use super::routes::normalize_route_key;
use super::yaml::template_json;

/// Lambda's defaults when neither the function nor `Globals` set them.
const DEFAULT_MEMORY_MB: u32 = 128;
const DEFAULT_TIMEOUT_SECS: u32 = 3;

impl Template {
    /// Reads and parses a template file, every parameter at its default.
    pub fn load(path: impl AsRef<Path>) -> Result<Self, TemplateError> {
        Self::load_with(path, &BTreeMap::new())
    }

    /// Reads and parses a template file for a stack given these parameter values (see
    /// [`Template::parse_with`]).
    pub fn load_with(
        path: impl AsRef<Path>,
        overrides: &BTreeMap<String, String>,
    ) -> Result<Self, TemplateError> {
        let path = path.as_ref();
        let text = std::fs::read_to_string(path).map_err(|error| TemplateError::Io {
            path: path.to_path_buf(),
            error,
        })?;
        let mut template = Self::parse_with(&text, overrides).map_err(|e| match e {
            TemplateError::Yaml { error, .. } => TemplateError::Yaml {
                path: path.to_path_buf(),
                error,
            },
            other => other,
        })?;
        template.path = path.to_path_buf();
        Ok(template)
    }

    /// Parses template text, every parameter at its default.
    pub fn parse(text: &str) -> Result<Self, TemplateError> {
        Self::parse_with(text, &BTreeMap::new())
    }

    /// Parses template text for a stack given these parameter values, as `sam deploy
    /// --parameter-overrides` gives them: conditions, `Ref`s and `Fn::If`s see them, and a
    /// resource whose `Condition` is false is left out (no function, route, table or queue).
    /// An unknown parameter, or a value outside its `AllowedValues`, is refused, as
    /// CloudFormation refuses it.
    pub fn parse_with(
        text: &str,
        overrides: &BTreeMap<String, String>,
    ) -> Result<Self, TemplateError> {
        let root = template_json(text)?;
        let root = root
            .as_object()
            .ok_or_else(|| TemplateError::Invalid("template is not a mapping".into()))?;

        let mut parameters = parse_parameters(root.get("Parameters"));
        for (name, value) in overrides {
            let p = parameters.get_mut(name).ok_or_else(|| {
                TemplateError::Invalid(format!("parameter {name} is not in the template"))
            })?;
            if !p.allowed_values.is_empty() && !p.allowed_values.contains(value) {
                return Err(TemplateError::Invalid(format!(
                    "parameter {name}: {value:?} is not one of its AllowedValues {:?}",
                    p.allowed_values
                )));
            }
            p.given = Some(value.clone());
        }
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
            stack_name: LOCAL_STACK_NAME.to_string(),
            left_out: BTreeSet::new(),
        };
        for (id, res) in &template.resources {
            if let Some(condition) = res.get("Condition") {
                let holds = condition
                    .as_str()
                    .ok_or_else(|| format!("{id}: Condition is not a name"))
                    .and_then(|name| template.condition(name))
                    .map_err(|e| TemplateError::Invalid(format!("{id}: {e}")))?;
                if !holds {
                    template.left_out.insert(id.clone());
                }
            }
        }

        // Names and numbers may themselves be intrinsics (e.g. `!Sub rota-${Stage}`), so they
        // are resolved against the parameters; nothing here needs the local endpoints.
        let globals_fn = root
            .get("Globals")
            .and_then(|g| g.get("Function"))
            .cloned()
            .unwrap_or(Json::Null);

        let mut http_apis = Vec::new();
        for (id, res) in &template.resources {
            if template.left_out.contains(id) {
                continue;
            }
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

    fn parse_http_api(&self, id: &str, props: &Json) -> Result<HttpApi, TemplateError> {
        let route_settings = props
            .get("RouteSettings")
            .and_then(Json::as_object)
            .map(|m| {
                // A route's settings may be an `Fn::If` (settings of a route that only exists
                // under a condition): `AWS::NoValue` leaves the key out.
                m.iter()
                    .filter_map(|(k, v)| match self.select(v, 0) {
                        Ok(Some(v)) => {
                            Some(Ok((normalize_route_key(k), self.throttle_settings(&v))))
                        }
                        Ok(None) => None,
                        Err(e) => Some(Err(TemplateError::Invalid(format!(
                            "{id}: RouteSettings {k}: {e}"
                        )))),
                    })
                    .collect::<Result<_, _>>()
            })
            .transpose()?
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
        let handler = props
            .get("Handler")
            .or_else(|| globals.get("Handler"))
            .and_then(|h| self.resolve(h, None).ok())
            .unwrap_or_else(|| "bootstrap".to_string());
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
            handler,
            memory_size,
            timeout_secs,
            environment,
            logging,
            events,
        })
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
                    let allowed_values = p
                        .get("AllowedValues")
                        .and_then(Json::as_array)
                        .map(|values| {
                            values
                                .iter()
                                .map(|v| match v {
                                    Json::String(s) => s.clone(),
                                    other => other.to_string(),
                                })
                                .collect()
                        })
                        .unwrap_or_default();
                    let param = Parameter {
                        name: name.clone(),
                        kind: p
                            .get("Type")
                            .and_then(Json::as_str)
                            .unwrap_or("String")
                            .to_string(),
                        default,
                        allowed_values,
                        given: None,
                    };
                    (name.clone(), param)
                })
                .collect()
        })
        .unwrap_or_default()
}
