//! A DynamoDB client that loses chosen answers, keeps chosen calls from DynamoDB, answers
//! eventually consistent Queries from a lagging replica, and records
//! the requests it sent (to replay one later, as an abandoned attempt that lands late): the
//! network's bad days, aimed at one call of one in-process request.

use std::sync::{Arc, Mutex};

use aws_sdk_dynamodb::config::interceptors::{
    BeforeDeserializationInterceptorContextMut, BeforeTransmitInterceptorContextMut,
    FinalizerInterceptorContextMut,
};
use aws_sdk_dynamodb::config::{ConfigBag, Intercept, RuntimeComponents};
use aws_sdk_dynamodb::operation::query::QueryOutput;
use aws_smithy_types::body::SdkBody;
use aws_smithy_types::config_bag::{Storable, StoreReplace};

use crate::harness::sdk_config;

/// What happens to a matching call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Action {
    /// DynamoDB gets and applies it; its answer is replaced by a 500 (lost on the way back).
    LoseAnswer,
    /// It never reaches DynamoDB (sent to a closed port): nothing applied.
    Refuse,
}

#[derive(Debug)]
struct Rule {
    operations: Vec<String>,
    needle: String,
    /// Matching calls let through untouched before the rule acts.
    skip: usize,
    /// Matching calls it still acts on.
    times: usize,
    action: Action,
}

/// One request as sent (signed), to send again.
#[derive(Debug, Clone)]
pub struct SentRequest {
    pub operation: String,
    pub uri: String,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl SentRequest {
    /// Sends the exact request again (a late attempt): its status and body.
    pub async fn replay(&self) -> (u16, String) {
        let client = reqwest::Client::new();
        let mut request = client.post(&self.uri).body(self.body.clone());
        for (name, value) in &self.headers {
            if name != "content-length" && name != "host" {
                request = request.header(name, value);
            }
        }
        let response = request.send().await.expect("the emulator answers");
        (
            response.status().as_u16(),
            response.text().await.unwrap_or_default(),
        )
    }
}

#[derive(Debug, Default)]
struct State {
    rules: Vec<Rule>,
    sent: Vec<SentRequest>,
    /// Eventually consistent Queries whose body contains this answer from a replica this far
    /// behind: the first answer to each such request, until it is older than the lag.
    stale: Option<(String, std::time::Duration)>,
    snapshots: std::collections::HashMap<String, (std::time::Instant, QueryOutput)>,
}

/// Marks an eventually consistent Query that may be answered stale (its request body).
#[derive(Debug, Clone)]
struct MaybeStale(String);

impl Storable for MaybeStale {
    type Storer = StoreReplace<Self>;
}

/// The interceptor; clones share their rules and records.
#[derive(Debug, Clone, Default)]
pub struct Tamper(Arc<Mutex<State>>);

/// Marks a call whose answer is to be lost (from transmit to deserialization).
#[derive(Debug, Clone)]
struct LoseThisAnswer;

impl Storable for LoseThisAnswer {
    type Storer = StoreReplace<Self>;
}

impl Tamper {
    fn add(&self, operations: &[&str], needle: &str, skip: usize, times: usize, action: Action) {
        self.0.lock().unwrap().rules.push(Rule {
            operations: operations.iter().map(|o| o.to_string()).collect(),
            needle: needle.to_owned(),
            skip,
            times,
            action,
        });
    }

    /// The next `times` calls of `operations` whose body contains `needle` are applied by
    /// DynamoDB and their answers lost.
    pub fn lose_answers(&self, operations: &[&str], needle: &str, times: usize) {
        self.add(operations, needle, 0, times, Action::LoseAnswer);
    }

    /// After `skip` such calls, the next `times` never reach DynamoDB.
    pub fn refuse(&self, operations: &[&str], needle: &str, skip: usize, times: usize) {
        self.add(operations, needle, skip, times, Action::Refuse);
    }

    /// Eventually consistent Queries whose body contains `needle` are answered as a replica
    /// `lag` behind would answer: the same request gets the answer it got first until that
    /// answer is `lag` old (DynamoDB's eventually consistent reads may miss writes of the last
    /// moments; `ConsistentRead` ones never do).
    pub fn stale_queries(&self, needle: &str, lag: std::time::Duration) {
        self.0.lock().unwrap().stale = Some((needle.to_owned(), lag));
    }

    /// Drops every rule.
    pub fn clear(&self) {
        let mut state = self.0.lock().unwrap();
        state.rules.clear();
        state.stale = None;
    }

    /// The requests sent so far whose operation is one of `operations` and whose body contains
    /// `needle`, oldest first.
    pub fn sent(&self, operations: &[&str], needle: &str) -> Vec<SentRequest> {
        self.0
            .lock()
            .unwrap()
            .sent
            .iter()
            .filter(|r| operations.contains(&r.operation.as_str()) && r.body.contains(needle))
            .cloned()
            .collect()
    }
}

impl Intercept for Tamper {
    fn name(&self) -> &'static str {
        "Tamper"
    }

    fn modify_before_transmit(
        &self,
        context: &mut BeforeTransmitInterceptorContextMut<'_>,
        _components: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), aws_sdk_dynamodb::error::BoxError> {
        let request = context.request_mut();
        let target = request.headers().get("x-amz-target").unwrap_or("?");
        let operation = target.rsplit('.').next().unwrap_or(target).to_owned();
        let body = request
            .body()
            .bytes()
            .map(|b| String::from_utf8_lossy(b).into_owned())
            .unwrap_or_default();
        let mut state = self.0.lock().unwrap();
        state.sent.push(SentRequest {
            operation: operation.clone(),
            uri: request.uri().to_owned(),
            headers: request
                .headers()
                .iter()
                .map(|(k, v)| (k.to_owned(), v.to_owned()))
                .collect(),
            body: body.clone(),
        });
        if operation == "Query"
            && !body.contains("\"ConsistentRead\":true")
            && state
                .stale
                .as_ref()
                .is_some_and(|(needle, _)| body.contains(needle))
        {
            cfg.interceptor_state().store_put(MaybeStale(body.clone()));
        }
        let mut action = None;
        for rule in state.rules.iter_mut() {
            if rule.operations.contains(&operation) && body.contains(&rule.needle) {
                if rule.skip > 0 {
                    rule.skip -= 1;
                } else if rule.times > 0 {
                    rule.times -= 1;
                    action = Some(rule.action);
                    break;
                }
            }
        }
        match action {
            Some(Action::LoseAnswer) => {
                cfg.interceptor_state().store_put(LoseThisAnswer);
            }
            Some(Action::Refuse) => {
                // Port 9 (discard) is closed here: the connection is refused.
                request.set_uri("http://127.0.0.1:9/").expect("a valid uri");
            }
            None => {}
        }
        Ok(())
    }

    fn modify_before_deserialization(
        &self,
        context: &mut BeforeDeserializationInterceptorContextMut<'_>,
        _components: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), aws_sdk_dynamodb::error::BoxError> {
        if cfg.load::<LoseThisAnswer>().is_some() {
            let response = context.response_mut();
            *response.status_mut() = 500u16.try_into().expect("status");
            *response.body_mut() = SdkBody::from(
                r#"{"__type":"com.amazonaws.dynamodb.v20120810#InternalServerError","message":"lost"}"#,
            );
        }
        Ok(())
    }

    fn modify_before_attempt_completion(
        &self,
        context: &mut FinalizerInterceptorContextMut<'_>,
        _components: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), aws_sdk_dynamodb::error::BoxError> {
        let Some(MaybeStale(body)) = cfg.load::<MaybeStale>().cloned() else {
            return Ok(());
        };
        let Some(Ok(output)) = context.output_or_error_mut() else {
            return Ok(());
        };
        let Some(output) = output.downcast_mut::<QueryOutput>() else {
            return Ok(());
        };
        let mut state = self.0.lock().unwrap();
        let lag = state
            .stale
            .as_ref()
            .map_or(Default::default(), |(_, lag)| *lag);
        match state.snapshots.get(&body) {
            Some((at, old)) if at.elapsed() < lag => *output = old.clone(),
            _ => {
                state
                    .snapshots
                    .insert(body, (std::time::Instant::now(), output.clone()));
            }
        }
        Ok(())
    }
}

/// A DynamoDB client built as the functions build theirs (the data layer's retries, bounded
/// attempts), with a [`Tamper`] on it.
pub async fn tampered_dynamodb_client() -> (aws_sdk_dynamodb::Client, Tamper) {
    let tamper = Tamper::default();
    let config = rota_store::dynamodb_config(&sdk_config().await)
        .interceptor(tamper.clone())
        .build();
    (aws_sdk_dynamodb::Client::from_conf(config), tamper)
}

/// An in-process TestApp on a tampered client, with the test run's budget: a test that refuses
/// calls until the budget is spent sets the deployed one ([`crate::deployed_budget`]) after its
/// set-up (a shorter one made the set-up, a registration with its argon2 hash, answer 503 on a
/// loaded machine).
pub async fn tampered_app() -> (crate::TestApp, Tamper) {
    let (db, tamper) = tampered_dynamodb_client().await;
    let mut config = crate::config();
    config.redis_url = Some(crate::harness::redis_url());
    (crate::TestApp::with_parts(config, db), tamper)
}
