//! Lambda `community-posts-patch`: all logic lives in `rota_api::handlers::community::PatchPost`.

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    rota_api::run(rota_api::handlers::community::PatchPost).await
}
