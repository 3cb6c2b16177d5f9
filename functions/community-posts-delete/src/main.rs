//! Lambda `community-posts-delete`: all logic lives in `rota_api::handlers::posts::DeletePost`.

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    rota_api::run(rota_api::handlers::posts::DeletePost).await
}
