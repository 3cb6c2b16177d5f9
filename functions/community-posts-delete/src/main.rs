//! Lambda `community-posts-delete`: all logic lives in `rota::handlers::community::DeletePost`.

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    rota::run(rota::handlers::community::DeletePost).await
}
