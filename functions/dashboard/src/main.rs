//! Lambda `dashboard`: all logic lives in `rota_api::handlers::dashboard::Dashboard`.

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    rota_api::run(rota_api::handlers::dashboard::Dashboard).await
}
