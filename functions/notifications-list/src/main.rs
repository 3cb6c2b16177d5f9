//! Lambda `notifications-list`: all logic lives in `rota_api::handlers::notifications::ListNotifications`.

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    rota_api::run(rota_api::handlers::notifications::ListNotifications).await
}
