//! Lambda `reminders-scheduler` (hourly EventBridge schedule): logic in `rota_api::reminders`.

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    use rota_api::handlers::jobs;
    rota_api::run_job(jobs::RemindersScheduler).await
}
