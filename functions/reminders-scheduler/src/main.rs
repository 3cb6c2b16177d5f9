//! Lambda `reminders-scheduler` (hourly EventBridge schedule): logic in `rota_api::reminders`.
// The scheduler's future (SDK pagination inside the runtime loop) nests deeper than the
// compiler's default layout limit.
#![recursion_limit = "256"]

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    use rota_api::handlers::jobs;
    rota_api::run_job(jobs::RemindersScheduler).await
}
