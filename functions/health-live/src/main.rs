//! Lambda `health-live`: all logic lives in `rota::handlers::ops::HealthLive`.

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    rota::run(rota::handlers::ops::HealthLive).await
}
