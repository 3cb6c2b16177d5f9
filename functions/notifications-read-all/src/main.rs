//! Lambda `notifications-read-all`: all logic lives in `rota::handlers::notifications::ReadAllNotifications`.

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    rota::run(rota::handlers::notifications::ReadAllNotifications).await
}
