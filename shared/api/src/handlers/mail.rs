//! The reminder email's edges: the one-click unsubscribe (`POST /api/reminders/unsubscribe`,
//! RFC 8058, no sign-in: the signed token is the authority) and SES's bounce and complaint
//! events (SNS into SQS), which suppress the address.

use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent};
use chrono::Utc;
use serde::Deserialize;

use crate::app::{App, Ctx};
use crate::email::UnsubscribeToken;
use crate::error::{ApiError, ApiResult};
use crate::extract::{FromQuery, Query, QueryParams};
use crate::function::{Handler, Job, Reply};
use crate::http::no_content;
use crate::state::{Db, DbAndTokens, HasTokens};
use rota_lambda::metrics::Metrics;
use rota_store::mail::Mail;

/// `?token=`: the token of the email's `List-Unsubscribe` URL.
pub struct UnsubscribeQuery {
    token: String,
}

impl FromQuery for UnsubscribeQuery {
    fn from_query(query: &mut QueryParams<'_>) -> Self {
        let token = query.get("token").unwrap_or_default().to_owned();
        if token.is_empty() {
            query.fail("token", "is required");
        }
        UnsubscribeQuery { token }
    }
}

pub struct Unsubscribe;

impl Handler for Unsubscribe {
    type State = DbAndTokens;
    type Input = Query<UnsubscribeQuery>;

    /// Turns the token's user's reminder emails off (204; again: 204). The body mail clients
    /// send (`List-Unsubscribe=One-Click`) is not needed: the POST itself is the request.
    async fn handle(&self, app: &App<Self::State>, _ctx: &mut Ctx, input: Self::Input) -> Reply {
        let Query(UnsubscribeQuery { token }) = input;
        let token = UnsubscribeToken::verify(app.state.tokens(), &token)
            .ok_or_else(|| ApiError::BadRequest("This unsubscribe link is not valid.".into()))?;
        // A deleted account has nothing left to unsubscribe from: the same answer.
        Mail::new(app.db(), app.table())
            .set_email_reminders(token.user_id, false)
            .await?;
        Ok(no_content())
    }
}

/// An SES event as SNS delivers it raw (`RawMessageDelivery`): configuration-set events name
/// their kind `eventType`, identity notifications `notificationType`.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct SesEvent {
    event_type: Option<String>,
    notification_type: Option<String>,
    bounce: Option<Bounce>,
    complaint: Option<Complaint>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Bounce {
    bounce_type: String,
    bounced_recipients: Vec<Recipient>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Complaint {
    complained_recipients: Vec<Recipient>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Recipient {
    email_address: String,
}

impl SesEvent {
    /// The addresses to suppress and why: every recipient of a permanent bounce or of a
    /// complaint (a transient bounce, a full mailbox, may work tomorrow).
    fn suppressions(&self) -> Vec<(&str, &'static str)> {
        let kind = self
            .event_type
            .as_deref()
            .or(self.notification_type.as_deref());
        match (kind, &self.bounce, &self.complaint) {
            (Some("Bounce"), Some(b), _) if b.bounce_type == "Permanent" => b
                .bounced_recipients
                .iter()
                .map(|r| (r.email_address.as_str(), "bounce"))
                .collect(),
            (Some("Complaint"), _, Some(c)) => c
                .complained_recipients
                .iter()
                .map(|r| (r.email_address.as_str(), "complaint"))
                .collect(),
            _ => Vec::new(),
        }
    }
}

pub struct MailEvents;

impl Job for MailEvents {
    type Event = SqsEvent;
    type Output = SqsBatchResponse;
    type State = Db;

    /// Suppresses the addresses of each message; a message that fails, or cannot be read, is
    /// reported alone (redelivered, then kept in the dead-letter queue).
    async fn run(
        &self,
        app: &App<Db>,
        event: SqsEvent,
        metrics: &mut Metrics,
    ) -> ApiResult<SqsBatchResponse> {
        let mail = Mail::new(app.db(), app.table());
        let mut failed = Vec::new();
        for record in &event.records {
            let id = record.message_id.clone().unwrap_or_default();
            let body = record.body.as_deref();
            let Some(ses) = body.and_then(|b| serde_json::from_str::<SesEvent>(b).ok()) else {
                tracing::error!(message_id = id, "unreadable SES event");
                metrics.count("MailEventsUnreadable");
                failed.push(id);
                continue;
            };
            for (address, reason) in ses.suppressions() {
                if let Err(e) = mail.suppress(address, reason, Utc::now()).await {
                    tracing::error!(message_id = id, error = %e, "suppression failed");
                    failed.push(id.clone());
                    break;
                }
                metrics.count("MailAddressesSuppressed");
            }
        }
        Ok(crate::function::sqs_failures(failed))
    }
}
