//! Lambda `auth-login`: all logic lives in `rota_api::handlers::auth::Login`.

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    rota_api::run(rota_api::handlers::auth::Login).await
}
