//! Lambda `users-me-get`: all logic lives in `rota::handlers::users::GetMe`.

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    rota::run(rota::handlers::users::GetMe).await
}
