//! Lambda `auth-register`: all logic lives in `rota_api::handlers::auth::Register`.

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    rota_api::run(rota_api::handlers::auth::Register).await
}
