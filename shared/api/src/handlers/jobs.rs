//! Functions triggered by EventBridge and SQS rather than HTTP.

use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent};

use crate::app::App;
use crate::error::ApiResult;
use crate::function::Job;
use crate::state::{DbAndQueue, DbTokensAndMail};
use rota_lambda::metrics::Metrics;

pub struct RemindersScheduler;

impl Job for RemindersScheduler {
    type Event = serde_json::Value;
    type Output = serde_json::Value;
    type State = DbAndQueue;

    /// EventBridge's Scheduled Event: its `time` is the scheduled time; the run queues what is
    /// due by the clock (a late or early event changes nothing; see `reminders`), except under
    /// rota-local, where `time` is the clock (`make reminders-now AT=…`).
    async fn run(
        &self,
        app: &App<DbAndQueue>,
        event: serde_json::Value,
        metrics: &mut Metrics,
    ) -> ApiResult<serde_json::Value> {
        let at = event
            .get("time")
            .and_then(|t| t.as_str())
            .and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok())
            .map(|t| t.with_timezone(&chrono::Utc));
        let wall = chrono::Utc::now();
        let now = crate::reminders::scheduler_clock(app.config.local_clock, at, wall);
        if now != wall {
            tracing::info!(clock = %now, "local clock: judging what is due by the event's time");
        }
        let sqs = &app.state.sqs;
        let queued = crate::reminders::schedule(app, sqs, at.unwrap_or(wall), now, metrics).await?;
        tracing::info!(queued, "reminders queued");
        Ok(serde_json::json!({"queued": queued}))
    }
}

pub struct RemindersWorker;

impl Job for RemindersWorker {
    type Event = SqsEvent;
    type Output = SqsBatchResponse;
    type State = DbTokensAndMail;

    async fn run(
        &self,
        app: &App<DbTokensAndMail>,
        event: SqsEvent,
        metrics: &mut Metrics,
    ) -> ApiResult<SqsBatchResponse> {
        Ok(crate::reminders::work(app, event, metrics).await)
    }
}
