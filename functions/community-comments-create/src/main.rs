//! Lambda `community-comments-create`: all logic lives in `rota::handlers::community::CreateComment`.

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    rota::run(rota::handlers::community::CreateComment).await
}
