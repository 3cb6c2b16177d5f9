//! Lambda `auth-logout`: all logic lives in `rota::handlers::auth::Logout`.

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    rota::run(rota::handlers::auth::Logout).await
}
