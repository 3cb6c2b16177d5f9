//! Lambda `community-stats`: all logic lives in `rota_api::handlers::community::GetStats`.

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    rota_api::run(rota_api::handlers::community::GetStats).await
}
