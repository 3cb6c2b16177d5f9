//! Lambda `community-stats`: all logic lives in `rota::handlers::community::GetStats`.

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    rota::run(rota::handlers::community::GetStats).await
}
