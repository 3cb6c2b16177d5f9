//! Lambda `health-ready`: all logic lives in `rota_api::handlers::ops::HealthReady`.

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    rota_api::run(rota_api::handlers::ops::HealthReady).await
}
