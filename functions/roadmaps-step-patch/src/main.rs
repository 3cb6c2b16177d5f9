//! Lambda `roadmaps-step-patch`: all logic lives in `rota::handlers::roadmaps::PatchStep`.

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    rota::run(rota::handlers::roadmaps::PatchStep).await
}
