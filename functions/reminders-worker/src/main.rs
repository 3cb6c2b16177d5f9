//! Lambda `reminders-worker` (SQS, partial batch failures): logic in `rota::reminders`.

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    use rota::handlers::jobs;
    rota::run_job(jobs::RemindersWorker).await
}
