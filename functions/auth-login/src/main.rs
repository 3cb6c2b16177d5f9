//! Lambda `auth-login`: all logic lives in `rota::handlers::auth::Login`.

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    rota::run(rota::handlers::auth::Login).await
}
