//! Lambda `roadmaps-get`: all logic lives in `rota::handlers::roadmaps::GetRoadmap`.

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    rota::run(rota::handlers::roadmaps::GetRoadmap).await
}
