//! Lambda `community-posts-like`: all logic lives in `rota_api::handlers::community::LikePost`.

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    rota_api::run(rota_api::handlers::community::LikePost).await
}
