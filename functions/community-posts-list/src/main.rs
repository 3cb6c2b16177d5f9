//! Lambda `community-posts-list`: all logic lives in `rota_api::handlers::posts::ListPosts`.

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    rota_api::run(rota_api::handlers::posts::ListPosts).await
}
