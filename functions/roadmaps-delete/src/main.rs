//! Lambda `roadmaps-delete`: all logic lives in `rota_api::handlers::roadmaps::DeleteRoadmap`.

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    rota_api::run(rota_api::handlers::roadmaps::DeleteRoadmap).await
}
