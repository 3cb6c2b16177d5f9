//! Lambda `community-comments-list`: all logic lives in `rota::handlers::community::ListComments`.

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    rota::run(rota::handlers::community::ListComments).await
}
