//! Lambda `community-posts-patch`: all logic lives in `rota::handlers::community::PatchPost`.

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    rota::run(rota::handlers::community::PatchPost).await
}
