//! Lambda `community-posts-unlike`: all logic lives in `rota::handlers::community::UnlikePost`.

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    rota::run(rota::handlers::community::UnlikePost).await
}
