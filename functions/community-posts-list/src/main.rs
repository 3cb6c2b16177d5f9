//! Lambda `community-posts-list`: all logic lives in `rota::handlers::community::ListPosts`.

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    rota::run(rota::handlers::community::ListPosts).await
}
