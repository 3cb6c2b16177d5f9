//! Lambda `roadmaps-create`: all logic lives in `rota::handlers::roadmaps::CreateRoadmap`.

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    rota::run(rota::handlers::roadmaps::CreateRoadmap).await
}
