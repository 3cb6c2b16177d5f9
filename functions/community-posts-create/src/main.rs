//! Lambda `community-posts-create`: all logic lives in `rota_api::handlers::posts::CreatePost`.

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    rota_api::run(rota_api::handlers::posts::CreatePost).await
}
