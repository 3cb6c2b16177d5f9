//! Lambda `health-live`: all logic lives in `rota_api::handlers::ops::HealthLive`.

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    rota_api::run(rota_api::handlers::ops::HealthLive).await
}
