//! Lambda `auth-refresh`: all logic lives in `rota_api::handlers::auth::Refresh`.

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    rota_api::run(rota_api::handlers::auth::Refresh).await
}
