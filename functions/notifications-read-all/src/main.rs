//! Lambda `notifications-read-all`: all logic lives in `rota_api::handlers::notifications::ReadAllNotifications`.

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    rota_api::run(rota_api::handlers::notifications::ReadAllNotifications).await
}
