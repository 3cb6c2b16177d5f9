//! Lambda `users-me-patch`: all logic lives in `rota_api::handlers::users::PatchMe`.

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    rota_api::run(rota_api::handlers::users::PatchMe).await
}
