//! Lambda `not-found`: all logic lives in `rota_api::handlers::ops::NotFound`.

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    rota_api::run(rota_api::handlers::ops::NotFound).await
}
