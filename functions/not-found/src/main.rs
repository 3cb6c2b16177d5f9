//! Lambda `not-found`: all logic lives in `rota::handlers::ops::NotFound`.

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    rota::run(rota::handlers::ops::NotFound).await
}
