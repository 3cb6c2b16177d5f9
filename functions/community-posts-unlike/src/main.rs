//! Lambda `community-posts-unlike`: all logic lives in `rota_api::handlers::likes::UnlikePost`.

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    rota_api::run(rota_api::handlers::likes::UnlikePost).await
}
