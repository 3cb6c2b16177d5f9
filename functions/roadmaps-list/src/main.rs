//! Lambda `roadmaps-list`: all logic lives in `rota_api::handlers::roadmaps::ListRoadmaps`.

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    rota_api::run(rota_api::handlers::roadmaps::ListRoadmaps).await
}
