//! Lambda `auth-register`: all logic lives in `rota::handlers::auth::Register`.

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    rota::run(rota::handlers::auth::Register).await
}
