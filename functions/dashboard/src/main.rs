//! Lambda `dashboard`: all logic lives in `rota::handlers::dashboard::Dashboard`.

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    rota::run(rota::handlers::dashboard::Dashboard).await
}
