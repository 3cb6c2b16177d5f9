//! The one retry policy of the data layer.
//!
//! DynamoDB refuses work in ways that pass: a `TransactionConflict` (another transaction held
//! an item a moment ago), throttling (a partition over its limits), a 5xx, a timeout or a
//! dropped connection. Every data-layer call goes through [`SendRetried::send_retried`], which
//! retries exactly those with full-jitter exponential backoff (AWS Architecture Blog,
//! "Exponential Backoff And Jitter": sleep a random time in `0..min(cap, base·2^n)`), inside the
//! request's time budget. What is left when the budget runs out is reported as a
//! [`StoreError`](super::StoreError) (`Conflict`, `Throttled`, `Unavailable`), which the HTTP
//! edge turns into a 503 with `Retry-After`. Everything else (a failed condition, a validation
//! error) is returned at once for the caller to interpret.
//!
//! The SDK's own retries are off (see [`super::dynamodb_client`]), so retries never multiply.
//! Retrying a write whose response was lost must not apply it twice: transactions carry a
//! `ClientRequestToken` (DynamoDB answers a repeat within 10 minutes with the first result and
//! applies nothing), and every single-item write is conditional or sets fixed values; each
//! call site says how it reads a failed condition after a retry.
//!
//! A transaction attempt abandoned at the attempt timeout may still be running in DynamoDB;
//! the retry with its token is then refused with `TransactionInProgressException`. The first
//! attempt may yet commit, so the outcome is unknown, and only asking again with the same token
//! learns it (the first result once it has finished; DynamoDB also completes an attempt stuck
//! for 5 s when asked). Answering "unavailable, nothing was written" would be false, so such a
//! call keeps asking past the request's budget, up to the budget's [`Budget::outcome_deadline`]
//! (the invocation's own deadline less a margin); if it learns the outcome after the budget,
//! the rest of the request gets a budget of its own again (its write is done: failing its
//! next read would answer 503 over a write that stands). Retries of it count as `Unavailable`
//! (they follow a timed-out attempt).
//!
//! Retries after a timeout, a 5xx or a throttle also spend the container's retry quota
//! ([`crate::retry_quota`], the SDKs' standard mode's token bucket): when it is empty a call
//! fails at once with what it has, so that retries cannot double the load of a dependency that
//! is already failing.
//!
//! The delay is the project's one backoff ([`rota_domain::backoff::full_jitter`]); the policy
//! around it is written here rather than taken from a retry crate: what matters is the
//! classification (DynamoDB's cancellation reasons) and the budget shared by every call of one
//! request, which no crate knows about.

use std::future::Future;
use std::time::{Duration, Instant};

use aws_sdk_dynamodb::error::{ProvideErrorMetadata, SdkError};

use crate::retry_quota::{QUOTA, RETRY_COST, TIMEOUT_RETRY_COST};

/// First backoff step and the largest one.
const BASE: Duration = Duration::from_millis(10);
const CAP: Duration = Duration::from_millis(200);

/// Used when no request set a budget (tools, tests calling the store directly).
const DEFAULT_BUDGET: Duration = Duration::from_secs(2);
const DEFAULT_ATTEMPT_TIMEOUT: Duration = Duration::from_millis(1000);
/// How long a call without an invocation deadline may wait for a transaction's outcome (a
/// function's timeout, 10 s in the template; DynamoDB completes a stuck attempt after 5 s).
pub const DEFAULT_OUTCOME_WAIT: Duration = Duration::from_secs(9);

/// How long a request may spend on the data layer, retries included.
#[derive(Debug, Clone, Copy)]
pub struct Budget {
    pub deadline: Instant,
    /// The most one attempt may take before it is abandoned and retried.
    pub attempt_timeout: Duration,
    /// How long a call whose write may have been made (a transaction still in progress) may
    /// keep asking for its outcome: never before `deadline`.
    pub outcome_deadline: Instant,
    total: Duration,
}

impl Budget {
    /// `total` from now; a pending outcome may be waited for `DEFAULT_OUTCOME_WAIT`.
    pub fn new(total: Duration, attempt_timeout: Duration) -> Self {
        let now = Instant::now();
        Self {
            deadline: now + total,
            attempt_timeout,
            outcome_deadline: now + total.max(DEFAULT_OUTCOME_WAIT),
            total,
        }
    }

    /// The same with the outcome deadline at `at` (not before the deadline).
    pub fn with_outcome_deadline(mut self, at: Instant) -> Self {
        self.outcome_deadline = at.max(self.deadline);
        self
    }

    /// The budget of the running request, or a fresh default one.
    pub fn current() -> Self {
        BUDGET
            .try_with(|b| b.get())
            .unwrap_or_else(|_| Self::new(DEFAULT_BUDGET, DEFAULT_ATTEMPT_TIMEOUT))
    }

    fn remaining(&self) -> Duration {
        self.deadline.saturating_duration_since(Instant::now())
    }

    fn outcome_remaining(&self) -> Duration {
        self.outcome_deadline
            .saturating_duration_since(Instant::now())
    }

    /// After an outcome learned past the deadline: the rest of the request gets its whole
    /// budget again, within the outcome deadline.
    fn renew_after_outcome() {
        let _ = BUDGET.try_with(|cell| {
            let mut budget = cell.get();
            let renewed = (Instant::now() + budget.total).min(budget.outcome_deadline);
            if renewed > budget.deadline {
                budget.deadline = renewed;
                cell.set(budget);
            }
        });
    }
}

tokio::task_local! {
    // A cell: a call that waited for a transaction's outcome renews the request's budget.
    static BUDGET: std::cell::Cell<Budget>;
}

/// Runs `work` (one request or job) with `budget`: every data-layer call inside shares it.
pub async fn with_budget<F: Future>(budget: Budget, work: F) -> F::Output {
    BUDGET.scope(std::cell::Cell::new(budget), work).await
}

/// Why a call may succeed if tried again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transient {
    Conflict,
    Throttled,
    Unavailable,
}

const THROTTLE_CODES: [&str; 3] = [
    "ProvisionedThroughputExceededException",
    "ThrottlingException",
    "RequestLimitExceeded",
];

/// The per-item reasons of a cancelled transaction, for operation errors that can carry them.
pub trait CancellationReasons {
    fn cancellation_reasons(&self) -> Option<Vec<String>> {
        None
    }
}

impl CancellationReasons
    for aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError
{
    fn cancellation_reasons(&self) -> Option<Vec<String>> {
        match self {
            Self::TransactionCanceledException(e) => Some(
                e.cancellation_reasons()
                    .iter()
                    .map(|r| r.code().unwrap_or("None").to_owned())
                    .collect(),
            ),
            _ => None,
        }
    }
}

macro_rules! no_cancellation_reasons {
    ($($error:path),* $(,)?) => { $(impl CancellationReasons for $error {})* };
}

no_cancellation_reasons!(
    aws_sdk_dynamodb::operation::get_item::GetItemError,
    aws_sdk_dynamodb::operation::put_item::PutItemError,
    aws_sdk_dynamodb::operation::update_item::UpdateItemError,
    aws_sdk_dynamodb::operation::delete_item::DeleteItemError,
    aws_sdk_dynamodb::operation::query::QueryError,
    aws_sdk_dynamodb::operation::batch_get_item::BatchGetItemError,
    aws_sdk_dynamodb::operation::batch_write_item::BatchWriteItemError,
    aws_sdk_dynamodb::operation::scan::ScanError,
    aws_sdk_sqs::operation::send_message_batch::SendMessageBatchError,
    aws_sdk_sqs::operation::receive_message::ReceiveMessageError,
    aws_sdk_sqs::operation::delete_message_batch::DeleteMessageBatchError,
);

/// Whether `err` says a transaction with this `ClientRequestToken` is still being processed
/// (an earlier attempt of the same call, abandoned at its timeout, still running).
pub fn is_in_progress<E: ProvideErrorMetadata>(err: &SdkError<E>) -> bool {
    ProvideErrorMetadata::code(err) == Some("TransactionInProgressException")
}

/// Whether `err` may pass if the call is tried again, and why.
pub fn classify<E>(err: &SdkError<E>) -> Option<Transient>
where
    E: ProvideErrorMetadata + CancellationReasons,
{
    match err {
        SdkError::TimeoutError(_) | SdkError::DispatchFailure(_) | SdkError::ResponseError(_) => {
            Some(Transient::Unavailable)
        }
        SdkError::ServiceError(service) => {
            if let Some(reasons) = service.err().cancellation_reasons() {
                // A failed condition decides the outcome: the caller reads it, no retry.
                if reasons.iter().any(|r| r == "ConditionalCheckFailed") {
                    return None;
                }
                if reasons.iter().any(|r| r == "TransactionConflict") {
                    return Some(Transient::Conflict);
                }
                if reasons.iter().any(|r| r == "ThrottlingError") {
                    return Some(Transient::Throttled);
                }
                return None;
            }
            let code = service.err().code().unwrap_or("");
            if code == "TransactionConflictException" {
                Some(Transient::Conflict)
            } else if code == "TransactionInProgressException" {
                // Asked again with the same token, DynamoDB answers with the first attempt's
                // result once it has finished.
                Some(Transient::Unavailable)
            } else if THROTTLE_CODES.contains(&code) {
                Some(Transient::Throttled)
            } else if service.raw().status().is_server_error()
                || matches!(code, "InternalServerError" | "ServiceUnavailable")
            {
                Some(Transient::Unavailable)
            } else {
                None
            }
        }
        _ => None,
    }
}

/// The sleep before attempt `attempt + 1` (full jitter from [`BASE`] up to [`CAP`]).
pub fn backoff(attempt: u32) -> Duration {
    rota_domain::backoff::full_jitter(BASE, CAP, attempt)
}

/// Retries `call` while it fails transiently and the budget lasts. Each attempt is bounded by
/// the budget's attempt timeout (an abandoned attempt counts as `Unavailable`). Once DynamoDB
/// says an earlier attempt is still in progress, the call keeps asking until the outcome
/// deadline instead (see the module docs).
pub async fn retry<T, E, F, Fut>(operation: &'static str, mut call: F) -> Result<T, SdkError<E>>
where
    E: ProvideErrorMetadata + CancellationReasons,
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, SdkError<E>>>,
{
    let budget = Budget::current();
    let mut attempt = 0u32;
    let mut awaiting_outcome = false;
    // What the attempt being made spent of the quota: 0 for the first attempt and for a
    // conflict's retry, and a success after either puts a token back.
    let mut retry_cost = 0;
    loop {
        let remaining = if awaiting_outcome {
            budget.outcome_remaining()
        } else {
            budget.remaining()
        };
        let allowed = budget.attempt_timeout.min(remaining);
        let result = match tokio::time::timeout(allowed, call()).await {
            Ok(result) => result,
            Err(_) => Err(SdkError::timeout_error(format!(
                "{operation}: no answer within {allowed:?}"
            ))),
        };
        let err = match result {
            Ok(out) => {
                QUOTA.succeeded(retry_cost);
                if awaiting_outcome {
                    Budget::renew_after_outcome();
                }
                return Ok(out);
            }
            Err(err) => err,
        };
        if is_in_progress(&err) {
            awaiting_outcome = true;
        }
        let Some(why) = classify(&err) else {
            if awaiting_outcome {
                // The outcome is known (a cancellation, a failed condition): the caller
                // answers with it, within a budget of its own again.
                Budget::renew_after_outcome();
            }
            return Err(err);
        };
        let pause = backoff(attempt);
        let remaining = if awaiting_outcome {
            budget.outcome_remaining()
        } else {
            budget.remaining()
        };
        if pause + Duration::from_millis(5) >= remaining {
            tracing::warn!(
                operation,
                ?why,
                attempts = attempt + 1,
                awaiting_outcome,
                "giving up: retry budget spent"
            );
            return Err(err);
        }
        // A conflict says nothing of the dependency's load (another transaction held an item:
        // the SDKs do not retry it at all), so its retries are the budget's alone.
        retry_cost = match why {
            Transient::Unavailable => TIMEOUT_RETRY_COST,
            Transient::Throttled => RETRY_COST,
            Transient::Conflict => 0,
        };
        if retry_cost > 0 && !QUOTA.acquire(retry_cost) {
            tracing::warn!(
                operation,
                ?why,
                attempts = attempt + 1,
                awaiting_outcome,
                "giving up: the container's retry quota is spent"
            );
            return Err(err);
        }
        tracing::info!(
            operation,
            ?why,
            attempt = attempt + 1,
            pause_ms = pause.as_millis() as u64,
            "retrying"
        );
        count(why);
        tokio::time::sleep(pause).await;
        attempt += 1;
    }
}

static RETRIED: [std::sync::atomic::AtomicU32; 3] =
    [const { std::sync::atomic::AtomicU32::new(0) }; 3];

fn count(why: Transient) {
    RETRIED[why as usize].fetch_add(1, std::sync::atomic::Ordering::Relaxed);
}

/// Retries made since the last call, by cause (conflict, throttled, unavailable). A Lambda
/// instance runs one invocation at a time, so the invocation wrapper reads them per request
/// for its metrics.
pub fn take_retry_counts() -> [u32; 3] {
    RETRIED
        .each_ref()
        .map(|c| c.swap(0, std::sync::atomic::Ordering::Relaxed))
}

/// `send_retried()` on the SDK's request builders: `send()` under the retry policy.
pub trait SendRetried {
    type Output;
    type Error;
    fn send_retried(self) -> impl Future<Output = Result<Self::Output, SdkError<Self::Error>>>;
}

macro_rules! send_retried {
    ($($builder:ty => $output:ty, $error:ty, $name:literal;)*) => {$(
        impl SendRetried for $builder {
            type Output = $output;
            type Error = $error;
            fn send_retried(self) -> impl Future<Output = Result<$output, SdkError<$error>>> {
                retry($name, move || self.clone().send())
            }
        }
    )*};
}

use aws_sdk_dynamodb::operation as op;

send_retried!(
    op::get_item::builders::GetItemFluentBuilder => op::get_item::GetItemOutput, op::get_item::GetItemError, "GetItem";
    op::put_item::builders::PutItemFluentBuilder => op::put_item::PutItemOutput, op::put_item::PutItemError, "PutItem";
    op::update_item::builders::UpdateItemFluentBuilder => op::update_item::UpdateItemOutput, op::update_item::UpdateItemError, "UpdateItem";
    op::delete_item::builders::DeleteItemFluentBuilder => op::delete_item::DeleteItemOutput, op::delete_item::DeleteItemError, "DeleteItem";
    op::query::builders::QueryFluentBuilder => op::query::QueryOutput, op::query::QueryError, "Query";
    op::batch_get_item::builders::BatchGetItemFluentBuilder => op::batch_get_item::BatchGetItemOutput, op::batch_get_item::BatchGetItemError, "BatchGetItem";
    op::batch_write_item::builders::BatchWriteItemFluentBuilder => op::batch_write_item::BatchWriteItemOutput, op::batch_write_item::BatchWriteItemError, "BatchWriteItem";
    op::scan::builders::ScanFluentBuilder => op::scan::ScanOutput, op::scan::ScanError, "Scan";
    aws_sdk_sqs::operation::send_message_batch::builders::SendMessageBatchFluentBuilder => aws_sdk_sqs::operation::send_message_batch::SendMessageBatchOutput, aws_sdk_sqs::operation::send_message_batch::SendMessageBatchError, "SendMessageBatch";
    aws_sdk_sqs::operation::receive_message::builders::ReceiveMessageFluentBuilder => aws_sdk_sqs::operation::receive_message::ReceiveMessageOutput, aws_sdk_sqs::operation::receive_message::ReceiveMessageError, "ReceiveMessage";
    aws_sdk_sqs::operation::delete_message_batch::builders::DeleteMessageBatchFluentBuilder => aws_sdk_sqs::operation::delete_message_batch::DeleteMessageBatchOutput, aws_sdk_sqs::operation::delete_message_batch::DeleteMessageBatchError, "DeleteMessageBatch";
);

impl SendRetried for op::transact_write_items::builders::TransactWriteItemsFluentBuilder {
    type Output = op::transact_write_items::TransactWriteItemsOutput;
    type Error = op::transact_write_items::TransactWriteItemsError;

    /// Every attempt carries the same `ClientRequestToken`: if an attempt's answer was lost
    /// (timeout) after DynamoDB applied it, the retry gets its success and applies nothing.
    fn send_retried(self) -> impl Future<Output = Result<Self::Output, SdkError<Self::Error>>> {
        let request = if self.get_client_request_token().is_some() {
            self
        } else {
            self.client_request_token(new_token())
        };
        retry("TransactWriteItems", move || request.clone().send())
    }
}

/// 32 random hex digits (DynamoDB allows 1..36 characters).
pub fn new_token() -> String {
    format!("{:032x}", rand::random::<u128>())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn an_outcome_learned_late_renews_the_budget_within_the_outcome_deadline() {
        let budget = Budget::new(Duration::from_millis(100), Duration::from_millis(50));
        // Never before the deadline, and 9 s by default.
        let early = budget.with_outcome_deadline(Instant::now());
        assert_eq!(early.outcome_deadline, early.deadline);
        assert!(budget.outcome_deadline >= budget.deadline + Duration::from_secs(8));
        let outcome = Instant::now() + Duration::from_millis(300);
        let budget = budget.with_outcome_deadline(outcome);
        let (before, after) = with_budget(budget, async {
            tokio::time::sleep(Duration::from_millis(150)).await; // the budget is spent
            let before = Budget::current().deadline;
            Budget::renew_after_outcome();
            (before, Budget::current().deadline)
        })
        .await;
        assert_eq!(before, budget.deadline);
        assert!(
            after > Instant::now(),
            "time again for the rest of the request"
        );
        assert!(after <= outcome, "never past the outcome deadline");
    }

    #[tokio::test]
    async fn a_request_budget_is_seen_by_every_call_inside_it() {
        let budget = Budget::new(Duration::from_millis(300), Duration::from_millis(50));
        let seen = with_budget(budget, async {
            let (a, b) = tokio::join!(async { Budget::current() }, async { Budget::current() });
            (a.deadline, b.deadline)
        })
        .await;
        assert_eq!(seen, (budget.deadline, budget.deadline));
        // Outside a request: a default budget of its own.
        assert!(Budget::current().deadline > budget.deadline);
    }
}
