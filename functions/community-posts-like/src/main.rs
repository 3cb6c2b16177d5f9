//! Lambda `community-posts-like`: all logic lives in `rota::handlers::community::LikePost`.

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    rota::run(rota::handlers::community::LikePost).await
}
