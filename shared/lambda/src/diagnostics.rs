//! Diagnostic mode (`ROTA_DIAGNOSTICS=1`): what one request costs in DynamoDB and Redis.
//!
//! Off in production (it adds `ReturnConsumedCapacity` to every DynamoDB call and a few fields to
//! the summary log line). When on, an SDK interceptor on the DynamoDB client
//! - asks DynamoDB for `ReturnConsumedCapacity=INDEXES` and sums what it reports (exact in AWS;
//!   the local emulator reports fixed numbers, so the figures are also estimated, below);
//! - estimates the capacity units from item sizes with DynamoDB's rules: reads round each item
//!   (GetItem, BatchGetItem) or the whole page (Query) up to 4 KB, half price when eventually
//!   consistent; writes round each item up to 1 KB; transactions cost double. Writes that name
//!   only a key (UpdateItem, DeleteItem, ConditionCheck) are charged on the stored item's size,
//!   which the request does not carry: they are estimated from the key and the new values,
//!   a lower bound (exact for the small items most of them touch);
//! - counts calls and *sequential* round trips: a call that starts while another DynamoDB or
//!   Redis call is in flight shares its round trip.
//!
//! A Lambda instance handles one invocation at a time, so process-wide counters reset at the
//! start of each invocation describe exactly that invocation.

use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};

use aws_sdk_dynamodb::config::interceptors::{
    BeforeSerializationInterceptorContextMut, BeforeSerializationInterceptorContextRef,
    FinalizerInterceptorContextRef,
};
use aws_sdk_dynamodb::config::{ConfigBag, Intercept, RuntimeComponents};
use aws_sdk_dynamodb::types::{AttributeValue, ConsumedCapacity, ReturnConsumedCapacity};
use aws_smithy_runtime_api::client::interceptors::context::{Input, Output};
use std::collections::HashMap;

type BoxError = Box<dyn std::error::Error + Send + Sync>;

static ENABLED: AtomicBool = AtomicBool::new(false);
static IN_FLIGHT: AtomicU32 = AtomicU32::new(0);
static ROUND_TRIPS: AtomicU32 = AtomicU32::new(0);
static DYNAMODB_CALLS: AtomicU32 = AtomicU32::new(0);
static REDIS_CALLS: AtomicU32 = AtomicU32::new(0);
/// Capacity in thousandths of a unit (atomics hold integers).
static RCU_MILLI: AtomicU64 = AtomicU64::new(0);
static WCU_MILLI: AtomicU64 = AtomicU64::new(0);
static REPORTED_MILLI: AtomicU64 = AtomicU64::new(0);
static OPERATIONS: Mutex<Vec<&'static str>> = Mutex::new(Vec::new());

/// Turns diagnostics on when `ROTA_DIAGNOSTICS` is set to `1`/`true` (once per container).
pub fn init_from_env() -> bool {
    let on = matches!(
        std::env::var("ROTA_DIAGNOSTICS").as_deref(),
        Ok("1") | Ok("true")
    );
    ENABLED.store(on, Ordering::Relaxed);
    on
}

pub fn enabled() -> bool {
    ENABLED.load(Ordering::Relaxed)
}

/// Adds the counting interceptor to a DynamoDB client configuration when diagnostics are on.
pub fn instrument(conf: aws_sdk_dynamodb::config::Builder) -> aws_sdk_dynamodb::config::Builder {
    if enabled() {
        conf.interceptor(CapacityInterceptor)
    } else {
        conf
    }
}

/// Clears the counters at the start of an invocation.
pub fn begin() {
    if !enabled() {
        return;
    }
    // A call dropped mid-flight in an earlier invocation never reported its end.
    for c in [&IN_FLIGHT, &ROUND_TRIPS, &DYNAMODB_CALLS, &REDIS_CALLS] {
        c.store(0, Ordering::Relaxed);
    }
    for c in [&RCU_MILLI, &WCU_MILLI, &REPORTED_MILLI] {
        c.store(0, Ordering::Relaxed);
    }
    lock_ops().clear();
}

/// What the current invocation has cost so far.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Usage {
    pub round_trips: u32,
    pub dynamodb_calls: u32,
    pub redis_calls: u32,
    pub rcu_estimated: f64,
    pub wcu_estimated: f64,
    /// Sum of the `ConsumedCapacity` DynamoDB returned (exact in AWS).
    pub capacity_reported: f64,
    /// DynamoDB operations in call order.
    pub operations: Vec<&'static str>,
}

/// The counters, or `None` when diagnostics are off.
pub fn usage() -> Option<Usage> {
    enabled().then(|| Usage {
        round_trips: ROUND_TRIPS.load(Ordering::Relaxed),
        dynamodb_calls: DYNAMODB_CALLS.load(Ordering::Relaxed),
        redis_calls: REDIS_CALLS.load(Ordering::Relaxed),
        rcu_estimated: milli(&RCU_MILLI),
        wcu_estimated: milli(&WCU_MILLI),
        capacity_reported: milli(&REPORTED_MILLI),
        operations: lock_ops().clone(),
    })
}

fn lock_ops() -> std::sync::MutexGuard<'static, Vec<&'static str>> {
    OPERATIONS
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

fn milli(c: &AtomicU64) -> f64 {
    c.load(Ordering::Relaxed) as f64 / 1000.0
}

fn add_milli(c: &AtomicU64, units: f64) {
    c.fetch_add((units * 1000.0).round() as u64, Ordering::Relaxed);
}

/// Marks the start of a network call; the returned guard marks its end.
fn start_call() -> CallGuard {
    call_started();
    CallGuard
}

fn call_started() {
    if IN_FLIGHT.fetch_add(1, Ordering::SeqCst) == 0 {
        ROUND_TRIPS.fetch_add(1, Ordering::Relaxed);
    }
}

fn call_finished() {
    IN_FLIGHT.fetch_sub(1, Ordering::SeqCst);
}

struct CallGuard;

impl Drop for CallGuard {
    fn drop(&mut self) {
        call_finished();
    }
}

/// Wraps one Redis command (or pipeline/script) so it is counted.
pub async fn redis_call<T>(f: impl Future<Output = T>) -> T {
    if !enabled() {
        return f.await;
    }
    REDIS_CALLS.fetch_add(1, Ordering::Relaxed);
    let _guard = start_call();
    f.await
}

#[derive(Debug)]
struct CapacityInterceptor;

/// One DynamoDB call in flight, kept in the operation's config bag between the hooks.
#[derive(Debug, Clone)]
struct CallInfo {
    consistent: bool,
    /// Keys a BatchGetItem asked for: each is charged, found or not.
    batch_keys: usize,
}

impl aws_smithy_types::config_bag::Storable for CallInfo {
    type Storer = aws_smithy_types::config_bag::StoreReplace<Self>;
}

impl Intercept for CapacityInterceptor {
    fn name(&self) -> &'static str {
        "RotaCapacityDiagnostics"
    }

    fn modify_before_serialization(
        &self,
        context: &mut BeforeSerializationInterceptorContextMut<'_>,
        _rc: &RuntimeComponents,
        _cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        request_capacity(context.input_mut());
        Ok(())
    }

    fn read_before_execution(
        &self,
        context: &BeforeSerializationInterceptorContextRef<'_>,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let input = context.input();
        DYNAMODB_CALLS.fetch_add(1, Ordering::Relaxed);
        lock_ops().push(operation_name(input));
        add_milli(&WCU_MILLI, write_units(input));
        call_started();
        cfg.interceptor_state().store_put(CallInfo {
            consistent: consistent_read(input),
            batch_keys: batch_keys(input),
        });
        Ok(())
    }

    fn read_after_execution(
        &self,
        context: &FinalizerInterceptorContextRef<'_>,
        _rc: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let Some(call) = cfg.load::<CallInfo>().cloned() else {
            return Ok(());
        };
        call_finished();
        if let Some(Ok(output)) = context.output_or_error() {
            add_milli(&RCU_MILLI, read_units(output, &call));
            add_milli(&REPORTED_MILLI, reported_units(output));
        }
        Ok(())
    }
}

fn batch_keys(input: &Input) -> usize {
    input
        .downcast_ref::<aws_sdk_dynamodb::operation::batch_get_item::BatchGetItemInput>()
        .and_then(|i| i.request_items.as_ref())
        .map_or(0, |m| m.values().map(|k| k.keys.len()).sum())
}

fn consistent_read(input: &Input) -> bool {
    use aws_sdk_dynamodb::operation as op;
    if let Some(i) = input.downcast_ref::<op::get_item::GetItemInput>() {
        return i.consistent_read == Some(true);
    }
    if let Some(i) = input.downcast_ref::<op::query::QueryInput>() {
        return i.consistent_read == Some(true);
    }
    if let Some(i) = input.downcast_ref::<op::batch_get_item::BatchGetItemInput>() {
        return i
            .request_items
            .iter()
            .flat_map(|m| m.values())
            .any(|k| k.consistent_read == Some(true));
    }
    false
}

macro_rules! with_input {
    ($input:expr, |$i:ident| $body:expr, $($ty:path),+ $(,)?) => {{
        $(
            if let Some($i) = $input.downcast_mut::<$ty>() {
                $body;
            }
        )+
    }};
}

fn request_capacity(input: &mut Input) {
    use aws_sdk_dynamodb::operation as op;
    let indexes = Some(ReturnConsumedCapacity::Indexes);
    with_input!(
        input,
        |i| i.return_consumed_capacity = indexes.clone(),
        op::get_item::GetItemInput,
        op::put_item::PutItemInput,
        op::update_item::UpdateItemInput,
        op::delete_item::DeleteItemInput,
        op::query::QueryInput,
        op::scan::ScanInput,
        op::batch_get_item::BatchGetItemInput,
        op::batch_write_item::BatchWriteItemInput,
        op::transact_write_items::TransactWriteItemsInput,
        op::transact_get_items::TransactGetItemsInput,
    );
}

fn operation_name(input: &Input) -> &'static str {
    use aws_sdk_dynamodb::operation as op;
    macro_rules! name {
        ($($ty:path => $n:literal),+ $(,)?) => {{
            $( if input.downcast_ref::<$ty>().is_some() { return $n; } )+
            "Other"
        }};
    }
    name!(
        op::get_item::GetItemInput => "GetItem",
        op::put_item::PutItemInput => "PutItem",
        op::update_item::UpdateItemInput => "UpdateItem",
        op::delete_item::DeleteItemInput => "DeleteItem",
        op::query::QueryInput => "Query",
        op::scan::ScanInput => "Scan",
        op::batch_get_item::BatchGetItemInput => "BatchGetItem",
        op::batch_write_item::BatchWriteItemInput => "BatchWriteItem",
        op::transact_write_items::TransactWriteItemsInput => "TransactWriteItems",
        op::transact_get_items::TransactGetItemsInput => "TransactGetItems",
    )
}

/// DynamoDB's size of an attribute value, in bytes.
pub fn value_size(v: &AttributeValue) -> usize {
    match v {
        AttributeValue::S(s) => s.len(),
        AttributeValue::N(n) => number_size(n),
        AttributeValue::B(b) => b.as_ref().len(),
        AttributeValue::Bool(_) | AttributeValue::Null(_) => 1,
        AttributeValue::Ss(v) => v.iter().map(String::len).sum(),
        AttributeValue::Ns(v) => v.iter().map(|n| number_size(n)).sum(),
        AttributeValue::Bs(v) => v.iter().map(|b| b.as_ref().len()).sum(),
        AttributeValue::L(v) => 3 + v.iter().map(|x| 1 + value_size(x)).sum::<usize>(),
        AttributeValue::M(m) => {
            3 + m
                .iter()
                .map(|(k, x)| 1 + k.len() + value_size(x))
                .sum::<usize>()
        }
        _ => 1,
    }
}

/// Numbers are stored as about one byte per two significant digits, plus one.
fn number_size(n: &str) -> usize {
    let digits = n.trim_start_matches(['-', '+', '0']).replace('.', "");
    digits.trim_end_matches('0').len().div_ceil(2) + 1
}

/// DynamoDB's size of an item: attribute names plus values.
pub fn item_size(item: &HashMap<String, AttributeValue>) -> usize {
    item.iter().map(|(k, v)| k.len() + value_size(v)).sum()
}

fn read_units_for(bytes: usize, consistent: bool) -> f64 {
    let units = bytes.div_ceil(4096).max(1) as f64;
    if consistent { units } else { units / 2.0 }
}

fn write_units_for(bytes: usize) -> f64 {
    bytes.div_ceil(1024).max(1) as f64
}

/// A key-only write's size: the key plus the values it sets (a lower bound of the item).
fn update_size(
    key: Option<&HashMap<String, AttributeValue>>,
    values: Option<&HashMap<String, AttributeValue>>,
) -> usize {
    key.map_or(0, item_size) + values.map_or(0, |v| v.values().map(value_size).sum())
}

fn write_units(input: &Input) -> f64 {
    use aws_sdk_dynamodb::operation as op;
    if let Some(i) = input.downcast_ref::<op::put_item::PutItemInput>() {
        return write_units_for(i.item.as_ref().map_or(0, item_size));
    }
    if let Some(i) = input.downcast_ref::<op::update_item::UpdateItemInput>() {
        return write_units_for(update_size(
            i.key.as_ref(),
            i.expression_attribute_values.as_ref(),
        ));
    }
    if let Some(i) = input.downcast_ref::<op::delete_item::DeleteItemInput>() {
        return write_units_for(update_size(i.key.as_ref(), None));
    }
    if let Some(i) = input.downcast_ref::<op::batch_write_item::BatchWriteItemInput>() {
        let requests = i.request_items.iter().flat_map(|m| m.values()).flatten();
        return requests
            .map(|w| match (&w.put_request, &w.delete_request) {
                (Some(p), _) => write_units_for(item_size(&p.item)),
                (_, Some(d)) => write_units_for(item_size(&d.key)),
                _ => 0.0,
            })
            .sum();
    }
    if let Some(i) = input.downcast_ref::<op::transact_write_items::TransactWriteItemsInput>() {
        let single: f64 = i
            .transact_items
            .iter()
            .flatten()
            .map(|t| {
                let bytes = if let Some(p) = &t.put {
                    item_size(&p.item)
                } else if let Some(u) = &t.update {
                    update_size(Some(&u.key), u.expression_attribute_values.as_ref())
                } else if let Some(d) = &t.delete {
                    update_size(Some(&d.key), None)
                } else if let Some(c) = &t.condition_check {
                    update_size(Some(&c.key), None)
                } else {
                    0
                };
                write_units_for(bytes)
            })
            .sum();
        // Transactions cost two units per unit of work (prepare and commit).
        return 2.0 * single;
    }
    0.0
}

fn read_units(output: &Output, call: &CallInfo) -> f64 {
    let consistent = call.consistent;
    use aws_sdk_dynamodb::operation as op;
    if let Some(o) = output.downcast_ref::<op::get_item::GetItemOutput>() {
        return read_units_for(o.item.as_ref().map_or(0, item_size), consistent);
    }
    if let Some(o) = output.downcast_ref::<op::query::QueryOutput>() {
        let bytes: usize = o.items.iter().flatten().map(item_size).sum();
        // A COUNT query returns no items but is charged for the matching ones: this counts
        // the minimum (half a unit), a lower bound.
        return read_units_for(bytes, consistent);
    }
    if let Some(o) = output.downcast_ref::<op::batch_get_item::BatchGetItemOutput>() {
        let found: Vec<f64> = o
            .responses
            .iter()
            .flat_map(|m| m.values())
            .flatten()
            .map(|item| read_units_for(item_size(item), consistent))
            .collect();
        // Keys that found nothing still cost the minimum read.
        let missing = call.batch_keys.saturating_sub(found.len()) as f64;
        return found.iter().sum::<f64>() + missing * read_units_for(0, consistent);
    }
    if let Some(o) = output.downcast_ref::<op::transact_get_items::TransactGetItemsOutput>() {
        return o
            .responses
            .iter()
            .flatten()
            .map(|r| 2.0 * read_units_for(r.item.as_ref().map_or(0, item_size), true))
            .sum();
    }
    0.0
}

fn reported_units(output: &Output) -> f64 {
    use aws_sdk_dynamodb::operation as op;
    let sum = |c: Option<&ConsumedCapacity>| c.and_then(|c| c.capacity_units).unwrap_or(0.0);
    let sum_all =
        |v: Option<&Vec<ConsumedCapacity>>| v.map_or(0.0, |v| v.iter().map(|c| sum(Some(c))).sum());
    macro_rules! single {
        ($($ty:path),+) => {
            $( if let Some(o) = output.downcast_ref::<$ty>() { return sum(o.consumed_capacity.as_ref()); } )+
        };
    }
    macro_rules! many {
        ($($ty:path),+) => {
            $( if let Some(o) = output.downcast_ref::<$ty>() { return sum_all(o.consumed_capacity.as_ref()); } )+
        };
    }
    single!(
        op::get_item::GetItemOutput,
        op::put_item::PutItemOutput,
        op::update_item::UpdateItemOutput,
        op::delete_item::DeleteItemOutput,
        op::query::QueryOutput,
        op::scan::ScanOutput
    );
    many!(
        op::batch_get_item::BatchGetItemOutput,
        op::batch_write_item::BatchWriteItemOutput,
        op::transact_write_items::TransactWriteItemsOutput,
        op::transact_get_items::TransactGetItemsOutput
    );
    0.0
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(v: &str) -> AttributeValue {
        AttributeValue::S(v.into())
    }

    #[test]
    fn item_size_counts_names_and_values() {
        let item = HashMap::from([("PK".to_string(), s("USER#1")), ("n".to_string(), s("abc"))]);
        assert_eq!(item_size(&item), 2 + 6 + 1 + 3);
    }

    #[test]
    fn numbers_take_a_byte_per_two_digits_plus_one() {
        assert_eq!(number_size("0"), 1);
        assert_eq!(number_size("12345"), 4);
        assert_eq!(number_size("-1200"), 2);
    }

    #[test]
    fn writes_round_up_to_a_kilobyte_and_reads_to_four() {
        assert_eq!(write_units_for(1), 1.0);
        assert_eq!(write_units_for(1025), 2.0);
        assert_eq!(read_units_for(4097, true), 2.0);
        assert_eq!(read_units_for(10, false), 0.5);
    }

    #[test]
    fn round_trips_count_overlapping_calls_once() {
        ROUND_TRIPS.store(0, Ordering::SeqCst);
        {
            let _a = start_call();
            let _b = start_call();
        }
        let _c = start_call();
        drop(_c);
        assert_eq!(ROUND_TRIPS.load(Ordering::SeqCst), 2);
    }
}
