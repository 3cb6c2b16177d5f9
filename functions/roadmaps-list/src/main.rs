//! Lambda `roadmaps-list`: all logic lives in `rota::handlers::roadmaps::ListRoadmaps`.

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    rota::run(rota::handlers::roadmaps::ListRoadmaps).await
}
