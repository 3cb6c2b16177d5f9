//! Lambda `community-posts-get`: all logic lives in `rota_api::handlers::posts::GetPost`.

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    rota_api::run(rota_api::handlers::posts::GetPost).await
}
