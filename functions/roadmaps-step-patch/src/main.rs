//! Lambda `roadmaps-step-patch`: all logic lives in `rota_api::handlers::roadmaps::PatchStep`.

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    rota_api::run(rota_api::handlers::roadmaps::PatchStep).await
}
