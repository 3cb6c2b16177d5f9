//! Lambda `roadmaps-get`: all logic lives in `rota_api::handlers::roadmaps::GetRoadmap`.

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    rota_api::run(rota_api::handlers::roadmaps::GetRoadmap).await
}
