//! Lambda `roadmaps-delete`: all logic lives in `rota::handlers::roadmaps::DeleteRoadmap`.

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    rota::run(rota::handlers::roadmaps::DeleteRoadmap).await
}
