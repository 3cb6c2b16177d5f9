//! Lambda `community-comments-delete`: all logic lives in `rota_api::handlers::comments::DeleteComment`.

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    rota_api::run(rota_api::handlers::comments::DeleteComment).await
}
