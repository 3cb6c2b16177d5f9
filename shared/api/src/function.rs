//! What a Lambda function of Rota is, whatever its endpoint: the [`Handler`] and [`Job`]
//! traits every endpoint and background function implements, [`invoke`] (the wrapper every
//! HTTP invocation goes through: request id, budget, extraction, problem+json mapping,
//! headers, the summary line) and the runtime loops [`run`] and [`run_job`] a function's
//! `main` hands its handler to.

use std::future::Future;

use http::HeaderValue;
use lambda_http::{Body, Request, RequestExt, Response};
use tracing::Instrument;

use crate::app::{App, Ctx};
use crate::error::{ApiError, ApiResult};
use crate::extract::FromRequest;
use crate::http::{Csp, MAX_BODY_BYTES, body_bytes, valid_request_id};
use crate::state::State;
use rota_lambda::invocation::Ids;
use rota_lambda::metrics::{Metrics, Unit};

/// What a handler answers: a response, or the error that becomes its problem+json.
pub type Reply = ApiResult<Response<Body>>;

/// One endpoint's logic. Implementations live in `handlers`; functions' `main`s only name one.
///
/// The signature says what the endpoint needs: its `State` (the clients its container builds)
/// and its `Input` (the extractors that turn the request into typed values — the caller, path
/// ids, query, body — or answer it with a 4xx before the handler runs).
pub trait Handler: Sync {
    type State: State;
    type Input: FromRequest<Self::State>;
    /// The Content-Security-Policy of this handler's successful responses (its errors always
    /// get the API's). Only the docs page (`handlers::docs`) overrides it.
    const CSP: Csp = Csp::Api;
    fn handle(
        &self,
        app: &App<Self::State>,
        ctx: &mut Ctx,
        input: Self::Input,
    ) -> impl Future<Output = Reply> + Send;
}

fn new_request_id() -> String {
    use rand::RngCore;
    let mut bytes = [0u8; 16];
    rand::rng().fill_bytes(&mut bytes);
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Runs one invocation of `handler`. This never fails: every error becomes a problem+json
/// response here, in one place.
pub async fn invoke<H: Handler>(
    app: &App<H::State>,
    handler: &H,
    req: Request,
) -> Result<Response<Body>, std::convert::Infallible> {
    // The API's request id: the client's `x-request-id` when valid, else Lambda's, else new.
    let lambda = req.lambda_context_ref();
    let lambda_deadline = lambda.map(|c| c.deadline);
    let lambda_request_id = lambda
        .map(|c| c.request_id.clone())
        .filter(|id| !id.is_empty());
    let request_id = req
        .headers()
        .get("x-request-id")
        .and_then(valid_request_id)
        .or_else(|| lambda_request_id.clone())
        .unwrap_or_else(new_request_id);
    let mut invocation = app.container.begin(Ids {
        lambda_request_id,
        xray_trace_id: lambda.and_then(|c| c.xray_trace_id.clone()),
        correlation_id: Some(request_id.clone()),
    });
    let method = req.method().to_string();
    let path = req.uri().path().to_owned();
    let span = invocation.span.clone();
    async move {
        let mut ctx = Ctx::new(request_id);
        let budget = app.request_budget(lambda_deadline);
        rota_store::retry::take_retry_counts();
        let result = if body_bytes(&req).len() > MAX_BODY_BYTES {
            Err(ApiError::PayloadTooLarge)
        } else {
            rota_store::retry::with_budget(budget, async {
                let input = H::Input::from_request(app, &mut ctx, &req).await?;
                handler.handle(app, &mut ctx, input).await
            })
            .await
        };
        count_retries(&mut ctx.metrics);
        let csp = if result.is_ok() { H::CSP } else { Csp::Api };
        let mut response = match result {
            Ok(response) => response,
            Err(err) => {
                if err.status().is_server_error() {
                    tracing::error!(error = err.log_line(), "request failed");
                } else {
                    tracing::info!(error = err.log_line(), "request refused");
                }
                err.to_response(&ctx.request_id)
            }
        };
        let headers = response.headers_mut();
        if let Ok(v) = HeaderValue::from_str(&ctx.request_id) {
            headers.insert("x-request-id", v);
        }
        crate::http::apply_security_headers(headers, csp);
        if let Some(decision) = ctx.rate_limit {
            decision.apply_headers(&mut response);
        }
        let status = response.status().as_u16();
        tracing::info!(
            method,
            path,
            status,
            duration_ms = invocation.elapsed_ms(),
            "request finished"
        );
        // Read by the benchmark harness; only diagnostic builds with diagnostics on add it.
        if let Some(json) = invocation.diagnostics("request")
            && let Ok(v) = HeaderValue::from_str(&json)
        {
            response.headers_mut().insert("x-rota-diagnostics", v);
        }
        invocation.metrics.merge(std::mem::take(&mut ctx.metrics));
        if status >= 500 {
            invocation.metrics.count("Errors5xx");
        } else if status >= 400 {
            invocation.metrics.count("Errors4xx");
        }
        invocation.finish();
        Ok(response)
    }
    .instrument(span)
    .await
}

/// The data layer's retries in this invocation, as metrics (how often AWS pushed back).
fn count_retries(metrics: &mut Metrics) {
    let [conflicts, throttles, unavailable] = rota_store::retry::take_retry_counts();
    for (name, n) in [
        ("DbConflictRetries", conflicts),
        ("DbThrottleRetries", throttles),
        ("DbUnavailableRetries", unavailable),
    ] {
        if n > 0 {
            metrics.add(name, Unit::Count, f64::from(n));
        }
    }
}

/// A container's start: logging, then its clients (a failure is logged and fails the init).
async fn start<S: State>() -> Result<App<S>, crate::state::InitError> {
    rota_lambda::logging::init();
    App::<S>::from_env().await.inspect_err(|e| {
        tracing::error!(error = %e, "function failed to start");
    })
}

/// A function's whole `main`: logging, the container's clients, then the Lambda runtime loop.
pub async fn run<H: Handler>(handler: H) -> Result<(), lambda_http::Error> {
    let app = &start::<H::State>().await?;
    let handler = &handler;
    lambda_http::run(lambda_http::service_fn(move |req| {
        invoke(app, handler, req)
    }))
    .await
}

/// A function fed by an event source other than the HTTP API (a schedule, a queue).
pub trait Job: Sync {
    type Event: serde::de::DeserializeOwned + Send + 'static;
    type Output: serde::Serialize + Send;
    type State: State;
    fn run(
        &self,
        app: &App<Self::State>,
        event: Self::Event,
        metrics: &mut Metrics,
    ) -> impl Future<Output = ApiResult<Self::Output>> + Send;
}

/// The answer of an SQS-fed job whose messages `failed` (their ids): its
/// `batchItemFailures`. Lambda redelivers those alone (then the dead-letter queue keeps them)
/// and deletes the rest.
pub fn sqs_failures(failed: Vec<String>) -> aws_lambda_events::event::sqs::SqsBatchResponse {
    let mut response = aws_lambda_events::event::sqs::SqsBatchResponse::default();
    response.batch_item_failures = failed
        .into_iter()
        .map(|id| {
            let mut failure = aws_lambda_events::event::sqs::BatchItemFailure::default();
            failure.item_identifier = id;
            failure
        })
        .collect();
    response
}

/// The `main` of a function that is not behind the HTTP API (schedules, queues): the same
/// container set-up, log context, summary line and EMF metrics as [`run`]. A job error fails
/// the invocation, so the event source retries it.
pub async fn run_job<J: Job>(job: J) -> Result<(), lambda_runtime::Error> {
    let app = &start::<J::State>().await?;
    let job = &job;
    lambda_runtime::run(lambda_runtime::service_fn(
        move |event: lambda_runtime::LambdaEvent<J::Event>| async move {
            let mut invocation = app.container.begin(Ids {
                lambda_request_id: Some(event.context.request_id.clone()),
                xray_trace_id: event.context.xray_trace_id.clone(),
                correlation_id: None,
            });
            let span = invocation.span.clone();
            let budget = app.job_budget(event.context.deadline);
            rota_store::retry::take_retry_counts();
            let result = rota_store::retry::with_budget(
                budget,
                job.run(app, event.payload, &mut invocation.metrics),
            )
            .instrument(span.clone())
            .await;
            count_retries(&mut invocation.metrics);
            {
                let _entered = span.enter();
                let elapsed_ms = invocation.elapsed_ms();
                match &result {
                    Ok(_) => tracing::info!(duration_ms = elapsed_ms, "job finished"),
                    Err(e) => {
                        tracing::error!(
                            duration_ms = elapsed_ms,
                            error = e.log_line(),
                            "job failed"
                        )
                    }
                }
            }
            invocation.diagnostics("job");
            if result.is_err() {
                invocation.metrics.count("JobErrors");
            }
            invocation.finish();
            result.map_err(|e| lambda_runtime::Error::from(e.log_line()))
        },
    ))
    .await
}
