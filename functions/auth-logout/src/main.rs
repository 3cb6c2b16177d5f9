//! Lambda `auth-logout`: all logic lives in `rota_api::handlers::auth::Logout`.

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    rota_api::run(rota_api::handlers::auth::Logout).await
}
