//! Lambda `community-posts-patch`: all logic lives in `rota_api::handlers::posts::PatchPost`.

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    rota_api::run(rota_api::handlers::posts::PatchPost).await
}
