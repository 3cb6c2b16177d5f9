//! Lambda `auth-refresh`: all logic lives in `rota::handlers::auth::Refresh`.

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    rota::run(rota::handlers::auth::Refresh).await
}
