//! Lambda `openapi`: all logic lives in `rota::handlers::ops::OpenApi`.

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    rota::run(rota::handlers::ops::OpenApi).await
}
