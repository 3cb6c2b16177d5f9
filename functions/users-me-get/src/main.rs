//! Lambda `users-me-get`: all logic lives in `rota_api::handlers::users::GetMe`.

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    rota_api::run(rota_api::handlers::users::GetMe).await
}
