//! Lambda `community-posts-unlike`: all logic lives in `rota_api::handlers::community::UnlikePost`.

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    rota_api::run(rota_api::handlers::community::UnlikePost).await
}
