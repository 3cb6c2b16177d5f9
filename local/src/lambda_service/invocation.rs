//! What an invocation gives back: its output and report, or why there is none.

use std::time::Duration;

use bytes::Bytes;

/// Lambda's limit on a synchronous invocation's request and response payloads.
pub const MAX_PAYLOAD_BYTES: usize = 6 * 1024 * 1024;

/// Why an invocation produced no response.
#[derive(Debug, Clone, thiserror::Error)]
pub enum InvokeError {
    #[error("no function named {0}")]
    UnknownFunction(String),
    #[error("{function}: cannot start {executable}: {reason}")]
    Spawn {
        function: String,
        executable: String,
        reason: String,
    },
    #[error("{function}: initialisation failed: {reason}")]
    Init { function: String, reason: String },
    /// The handler reported an error through `/invocation/{id}/error`.
    #[error("{function}: {error_type}: {message}")]
    Function {
        function: String,
        error_type: String,
        message: String,
    },
    #[error("{function}: task timed out after {secs:.2} seconds")]
    Timeout { function: String, secs: f64 },
    #[error("{function}: instance exited during the invocation ({reason})")]
    Crashed { function: String, reason: String },
    #[error("{function}: response payload exceeds {MAX_PAYLOAD_BYTES} bytes")]
    ResponseTooLarge { function: String },
    #[error("the local Lambda service is shutting down")]
    ShuttingDown,
    #[error("internal error: {0}")]
    Internal(String),
}

impl InvokeError {
    /// Whether this is a timeout (API Gateway answers 503 for those, 500 for the rest).
    pub fn is_timeout(&self) -> bool {
        matches!(self, InvokeError::Timeout { .. })
    }
}

/// Per-invocation options.
#[derive(Debug, Clone, Default)]
pub struct InvokeOptions {
    /// X-Ray trace root (`1-xxxxxxxx-yyyyyyyyyyyyyyyyyyyyyyyy`) to continue; a new one if `None`.
    pub trace_root: Option<String>,
}

/// A successful invocation.
#[derive(Debug, Clone)]
pub struct InvokeOutput {
    pub request_id: String,
    /// The response payload exactly as the function posted it.
    pub payload: Bytes,
    /// Whether a new instance was started for this invocation.
    pub cold_start: bool,
    /// Instance number (per function, from 1).
    pub instance: u64,
    /// What Lambda's REPORT line would say about this invocation.
    pub report: InvocationReport,
}

/// The figures of Lambda's `REPORT` log line for one invocation, plus the instance's process id
/// (benchmarks read its CPU time and peak memory from `/proc`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct InvocationReport {
    /// From the runtime taking the event to its response (Lambda's `Duration`).
    pub duration: Duration,
    /// On a cold start, from starting the process to its first poll for an event (Lambda's
    /// `Init Duration`).
    pub init_duration: Option<Duration>,
    pub pid: Option<u32>,
}
