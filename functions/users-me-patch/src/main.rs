//! Lambda `users-me-patch`: all logic lives in `rota::handlers::users::PatchMe`.

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    rota::run(rota::handlers::users::PatchMe).await
}
