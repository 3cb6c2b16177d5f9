//! Lambda `community-posts-get`: all logic lives in `rota::handlers::community::GetPost`.

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    rota::run(rota::handlers::community::GetPost).await
}
