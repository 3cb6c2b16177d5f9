//! Lambda `reminders-scheduler` (hourly EventBridge schedule): logic in `rota::reminders`.

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    use rota::handlers::jobs;
    rota::run_job(jobs::RemindersScheduler).await
}
