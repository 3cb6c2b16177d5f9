//! Lambda `community-comments-create`: all logic lives in `rota_api::handlers::comments::CreateComment`.

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    rota_api::run(rota_api::handlers::comments::CreateComment).await
}
