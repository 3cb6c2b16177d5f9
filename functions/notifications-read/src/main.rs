//! Lambda `notifications-read`: all logic lives in `rota::handlers::notifications::ReadNotification`.

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    rota::run(rota::handlers::notifications::ReadNotification).await
}
