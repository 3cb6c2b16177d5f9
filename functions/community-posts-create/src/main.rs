//! Lambda `community-posts-create`: all logic lives in `rota::handlers::community::CreatePost`.

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    rota::run(rota::handlers::community::CreatePost).await
}
