//! Lambda `roadmaps-catalog`: all logic lives in `rota::handlers::roadmaps::Catalog`.

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    rota::run(rota::handlers::roadmaps::Catalog).await
}
