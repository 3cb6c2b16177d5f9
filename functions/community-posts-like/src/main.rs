//! Lambda `community-posts-like`: all logic lives in `rota_api::handlers::likes::LikePost`.

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    rota_api::run(rota_api::handlers::likes::LikePost).await
}
