//! What the Lambda stand-in runs: each function's configuration, from the template, and the
//! settings shared by all of them.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use crate::faults::LambdaFaultPlan;
use crate::iam::RoleCredentials;
use crate::template::{LocalContext, Template};

/// How long a new instance may take to start and poll for its first event (Lambda's init phase
/// limit).
pub const DEFAULT_INIT_TIMEOUT: Duration = Duration::from_secs(10);
/// Variables of rota-local's own environment named `ROTA_FN_<NAME>` reach functions as `<NAME>`.
pub const OVERRIDE_PREFIX: &str = "ROTA_FN_";

/// One function as the Lambda stand-in runs it.
#[derive(Debug, Clone, PartialEq)]
pub struct FunctionConfig {
    /// Function name (the template's logical id).
    pub name: String,
    /// Binary name.
    pub binary: String,
    /// `Handler` (the instance's `_HANDLER`).
    pub handler: String,
    /// Short name (the handler, else the binary): names the log file.
    pub short_name: String,
    /// Path of the executable.
    pub executable: PathBuf,
    pub memory_mb: u32,
    pub timeout: Duration,
    /// Resolved template environment.
    pub env: BTreeMap<String, String>,
    /// The execution role's credentials (`AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`,
    /// `AWS_SESSION_TOKEN`), as Lambda gives them; `None`: the stack runs without IAM and the
    /// function gets placeholder keys.
    pub credentials: Option<RoleCredentials>,
}

/// Builds the function configurations from a template.
pub fn functions_from_template(
    template: &Template,
    ctx: &LocalContext,
    bin_dir: &Path,
) -> Vec<FunctionConfig> {
    template
        .functions
        .iter()
        .map(|f| FunctionConfig {
            name: f.logical_id.clone(),
            binary: f.binary.clone(),
            handler: f.handler.clone(),
            short_name: f.name().to_string(),
            executable: bin_dir.join(&f.binary),
            memory_mb: f.memory_size,
            timeout: Duration::from_secs(u64::from(f.timeout_secs)),
            env: {
                let mut env = template.function_env(f, ctx);
                env.extend(f.logging.lambda_env());
                env
            },
            credentials: None,
        })
        .collect()
}

/// Settings shared by all functions.
#[derive(Debug, Clone)]
pub struct RuntimeOptions {
    /// Most instances per function.
    pub max_instances: usize,
    /// Where `<function short name>.log` files go.
    pub logs_dir: PathBuf,
    /// `AWS_ENDPOINT_URL` of the instances.
    pub aws_endpoint: String,
    /// Applied last to every instance's environment (see [`overrides_from_env`]).
    pub overrides: BTreeMap<String, String>,
    /// See [`DEFAULT_INIT_TIMEOUT`].
    pub init_timeout: Duration,
    /// Faults to inject into invocations (a fault profile's `lambda` section).
    pub faults: Option<Arc<LambdaFaultPlan>>,
}

/// `ROTA_FN_<NAME>=value` variables of this process, as `<NAME> → value`.
pub fn overrides_from_env() -> BTreeMap<String, String> {
    std::env::vars_os()
        .filter_map(|(k, v)| {
            let k = k.into_string().ok()?;
            let name = k.strip_prefix(OVERRIDE_PREFIX)?.to_string();
            let v = v.into_string().ok()?;
            (!name.is_empty()).then_some((name, v))
        })
        .collect()
}
