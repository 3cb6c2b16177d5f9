//! Lambda `community-stats`: all logic lives in `rota_api::handlers::community_stats::GetStats`.

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    rota_api::run(rota_api::handlers::community_stats::GetStats).await
}
