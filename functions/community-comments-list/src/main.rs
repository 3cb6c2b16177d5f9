//! Lambda `community-comments-list`: all logic lives in `rota_api::handlers::comments::ListComments`.

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    rota_api::run(rota_api::handlers::comments::ListComments).await
}
