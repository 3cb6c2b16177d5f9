//! Lambda `notifications-list`: all logic lives in `rota::handlers::notifications::ListNotifications`.

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    rota::run(rota::handlers::notifications::ListNotifications).await
}
