//! Lambda `roadmaps-catalog`: all logic lives in `rota_api::handlers::roadmaps::Catalog`.

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    rota_api::run(rota_api::handlers::roadmaps::Catalog).await
}
