//! Lambda `health-ready`: all logic lives in `rota::handlers::ops::HealthReady`.

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    rota::run(rota::handlers::ops::HealthReady).await
}
