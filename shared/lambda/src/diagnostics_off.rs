//! Diagnostics compiled out (the `diagnostics` feature is off, as in every deployed build):
//! the same calls as `diagnostics.rs`, doing nothing, so call sites need no `cfg`.

/// Never produced: without the feature there is no usage to report.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub enum Usage {}

/// Diagnostics cannot be turned on in this build; `ROTA_DIAGNOSTICS` is ignored.
pub fn init_from_env() -> bool {
    false
}

pub fn enabled() -> bool {
    false
}

pub fn instrument(conf: aws_sdk_dynamodb::config::Builder) -> aws_sdk_dynamodb::config::Builder {
    conf
}

pub fn begin() {}

pub fn usage() -> Option<Usage> {
    None
}

pub async fn redis_call<T>(f: impl Future<Output = T>) -> T {
    f.await
}
