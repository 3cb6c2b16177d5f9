//! Lambda `community-comments-delete`: all logic lives in `rota::handlers::community::DeleteComment`.

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    rota::run(rota::handlers::community::DeleteComment).await
}
