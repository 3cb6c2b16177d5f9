//! DynamoDB helpers: whole-table scans, copies of a table's definition, wipes, an export
//! parser independent of rota-admin's, a client that records its calls, and direct updates.

use std::time::Duration;

use aws_sdk_dynamodb::config::interceptors::{
    BeforeSerializationInterceptorContextRef, FinalizerInterceptorContextRef,
};
use serde_json::Value;

use crate::harness::sdk_config;

/// A DynamoDB item.
pub type DbItem = std::collections::HashMap<String, aws_sdk_dynamodb::types::AttributeValue>;

/// An item of a `rota-admin export` line (`{"Item":{…}}` in DynamoDB JSON), read by this
/// independent parser so the drill does not check the tool against itself.
pub fn parse_export_line(line: &str) -> DbItem {
    use aws_sdk_dynamodb::primitives::Blob;
    use aws_sdk_dynamodb::types::AttributeValue as Av;
    use base64::Engine;
    fn value(v: &Value) -> Av {
        let (tag, v) = v
            .as_object()
            .and_then(|o| o.iter().next())
            .unwrap_or_else(|| panic!("not a DynamoDB JSON value: {v}"));
        let text = |v: &Value| v.as_str().expect("string").to_owned();
        let texts = |v: &Value| v.as_array().expect("array").iter().map(text).collect();
        let blob = |v: &Value| {
            Blob::new(
                base64::engine::general_purpose::STANDARD
                    .decode(v.as_str().expect("base64"))
                    .expect("base64"),
            )
        };
        match tag.as_str() {
            "S" => Av::S(text(v)),
            "N" => Av::N(text(v)),
            "B" => Av::B(blob(v)),
            "SS" => Av::Ss(texts(v)),
            "NS" => Av::Ns(texts(v)),
            "BS" => Av::Bs(v.as_array().expect("array").iter().map(blob).collect()),
            "BOOL" => Av::Bool(v.as_bool().expect("bool")),
            "NULL" => Av::Null(v.as_bool().expect("bool")),
            "L" => Av::L(v.as_array().expect("array").iter().map(value).collect()),
            "M" => Av::M(
                v.as_object()
                    .expect("object")
                    .iter()
                    .map(|(k, v)| (k.clone(), value(v)))
                    .collect(),
            ),
            other => panic!("unknown type {other}"),
        }
    }
    let line: Value = serde_json::from_str(line).expect("JSON line");
    line["Item"]
        .as_object()
        .expect("{\"Item\":{…}}")
        .iter()
        .map(|(k, v)| (k.clone(), value(v)))
        .collect()
}

/// `item` with its set members sorted: DynamoDB does not promise the order of a set.
pub fn normalize_sets(item: &DbItem) -> DbItem {
    use aws_sdk_dynamodb::types::AttributeValue as Av;
    fn norm(v: &Av) -> Av {
        match v {
            Av::Ss(s) => Av::Ss(sorted(s.clone())),
            Av::Ns(s) => Av::Ns(sorted(s.clone())),
            Av::Bs(s) => {
                let mut s = s.clone();
                s.sort_by(|a, b| a.as_ref().cmp(b.as_ref()));
                Av::Bs(s)
            }
            Av::L(l) => Av::L(l.iter().map(norm).collect()),
            Av::M(m) => Av::M(m.iter().map(|(k, v)| (k.clone(), norm(v))).collect()),
            other => other.clone(),
        }
    }
    fn sorted(mut v: Vec<String>) -> Vec<String> {
        v.sort();
        v
    }
    item.iter().map(|(k, v)| (k.clone(), norm(v))).collect()
}

/// The `PK`/`SK` of an item, for indexing and messages.
pub fn item_key(item: &DbItem) -> (String, String) {
    let s = |name: &str| match item.get(name) {
        Some(aws_sdk_dynamodb::types::AttributeValue::S(s)) => s.clone(),
        other => panic!("{name} is {other:?}"),
    };
    (s("PK"), s("SK"))
}

/// The item at (`pk`, `sk`) of `table`, read strongly consistently (through the data layer's
/// retries, so it holds under a fault profile too), if there is one.
pub async fn item_at(
    db: &aws_sdk_dynamodb::Client,
    table: &str,
    pk: &str,
    sk: &str,
) -> Option<DbItem> {
    use aws_sdk_dynamodb::types::AttributeValue;
    use rota_store::SendRetried;
    db.get_item()
        .table_name(table)
        .key("PK", AttributeValue::S(pk.to_owned()))
        .key("SK", AttributeValue::S(sk.to_owned()))
        .consistent_read(true)
        .send_retried()
        .await
        .expect("GetItem")
        .item
}

/// Every item of `table` (a consistent Scan, paged).
pub async fn scan_all(db: &aws_sdk_dynamodb::Client, table: &str) -> Vec<DbItem> {
    let mut items = Vec::new();
    let mut start = None;
    loop {
        let page = db
            .scan()
            .table_name(table)
            .consistent_read(true)
            .set_exclusive_start_key(start)
            .send()
            .await
            .expect("Scan");
        items.extend(page.items().iter().cloned());
        start = page.last_evaluated_key.filter(|k| !k.is_empty());
        if start.is_none() {
            return items;
        }
    }
}

/// Creates `to` with `from`'s key schema, attribute definitions and GSIs (on-demand), as a
/// restore target is created.
pub async fn create_table_like(db: &aws_sdk_dynamodb::Client, from: &str, to: &str) {
    use aws_sdk_dynamodb::types::{BillingMode, GlobalSecondaryIndex};
    let table = described(db, from).await;
    let indexes: Vec<GlobalSecondaryIndex> = table
        .global_secondary_indexes()
        .iter()
        .map(|g| {
            GlobalSecondaryIndex::builder()
                .index_name(g.index_name().expect("index name"))
                .set_key_schema(g.key_schema.clone())
                .set_projection(g.projection.clone())
                .build()
                .expect("index")
        })
        .collect();
    db.create_table()
        .table_name(to)
        .set_attribute_definitions(table.attribute_definitions.clone())
        .set_key_schema(table.key_schema.clone())
        .set_global_secondary_indexes((!indexes.is_empty()).then_some(indexes))
        .billing_mode(BillingMode::PayPerRequest)
        .send()
        .await
        .expect("CreateTable");
    for _ in 0..100 {
        let status = described(db, to).await.table_status;
        if status == Some(aws_sdk_dynamodb::types::TableStatus::Active) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("{to} did not become ACTIVE");
}

/// `table` as DescribeTable describes it.
async fn described(
    db: &aws_sdk_dynamodb::Client,
    table: &str,
) -> aws_sdk_dynamodb::types::TableDescription {
    let out = db.describe_table().table_name(table).send().await;
    out.expect("DescribeTable").table.expect("table")
}

/// Deletes every item of `table` (BatchWriteItem deletes of 25).
pub async fn delete_all_items(db: &aws_sdk_dynamodb::Client, table: &str) {
    use aws_sdk_dynamodb::types::{DeleteRequest, WriteRequest};
    let items = scan_all(db, table).await;
    for chunk in items.chunks(25) {
        let requests: Vec<WriteRequest> = chunk
            .iter()
            .map(|item| {
                let key = ["PK", "SK"]
                    .iter()
                    .map(|k| (k.to_string(), item[*k].clone()))
                    .collect();
                WriteRequest::builder()
                    .delete_request(DeleteRequest::builder().set_key(Some(key)).build().unwrap())
                    .build()
            })
            .collect();
        let mut pending = Some(std::collections::HashMap::from([(
            table.to_owned(),
            requests,
        )]));
        while let Some(batch) = pending.filter(|m| !m.is_empty()) {
            pending = db
                .batch_write_item()
                .set_request_items(Some(batch))
                .send()
                .await
                .expect("BatchWriteItem")
                .unprocessed_items;
        }
    }
}

/// The operations (`GetItem`, `PutItem`, …) a DynamoDB client sent, one entry per HTTP round
/// trip (retries included), in order; and how many *sequential* round trips they took: a call
/// that starts while another call of this client is in flight shares its round trip (as the
/// functions' diagnostics count them, here DynamoDB alone).
#[derive(Debug, Clone, Default)]
pub struct DynamoCalls(std::sync::Arc<std::sync::Mutex<Recorded>>);

#[derive(Debug, Default)]
struct Recorded {
    operations: Vec<String>,
    in_flight: u32,
    round_trips: u32,
}

impl DynamoCalls {
    fn lock(&self) -> std::sync::MutexGuard<'_, Recorded> {
        self.0.lock().unwrap()
    }

    /// The operations sent since the last call.
    pub fn take(&self) -> Vec<String> {
        std::mem::take(&mut self.lock().operations)
    }

    /// The sequential round trips since the last call.
    pub fn take_round_trips(&self) -> u32 {
        std::mem::take(&mut self.lock().round_trips)
    }
}

impl aws_sdk_dynamodb::config::Intercept for DynamoCalls {
    fn name(&self) -> &'static str {
        "DynamoCalls"
    }

    // One operation from start to end (the data layer's retries are operations of their own).
    fn read_before_execution(
        &self,
        _context: &BeforeSerializationInterceptorContextRef<'_>,
        _cfg: &mut aws_sdk_dynamodb::config::ConfigBag,
    ) -> Result<(), aws_sdk_dynamodb::error::BoxError> {
        let mut recorded = self.lock();
        if recorded.in_flight == 0 {
            recorded.round_trips += 1;
        }
        recorded.in_flight += 1;
        Ok(())
    }

    fn read_after_execution(
        &self,
        _context: &FinalizerInterceptorContextRef<'_>,
        _components: &aws_sdk_dynamodb::config::RuntimeComponents,
        _cfg: &mut aws_sdk_dynamodb::config::ConfigBag,
    ) -> Result<(), aws_sdk_dynamodb::error::BoxError> {
        let mut recorded = self.lock();
        recorded.in_flight = recorded.in_flight.saturating_sub(1);
        Ok(())
    }

    fn read_before_transmit(
        &self,
        context: &aws_sdk_dynamodb::config::interceptors::BeforeTransmitInterceptorContextRef<'_>,
        _components: &aws_sdk_dynamodb::config::RuntimeComponents,
        _cfg: &mut aws_sdk_dynamodb::config::ConfigBag,
    ) -> Result<(), aws_sdk_dynamodb::error::BoxError> {
        let target = context
            .request()
            .headers()
            .get("x-amz-target")
            .unwrap_or("?");
        let op = target.rsplit('.').next().unwrap_or(target).to_owned();
        self.lock().operations.push(op);
        Ok(())
    }
}

/// A DynamoDB client for the emulator that records every call it makes.
pub async fn counting_dynamodb_client() -> (aws_sdk_dynamodb::Client, DynamoCalls) {
    let calls = DynamoCalls::default();
    let config = aws_sdk_dynamodb::config::Builder::from(&sdk_config().await)
        .interceptor(calls.clone())
        .build();
    (aws_sdk_dynamodb::Client::from_conf(config), calls)
}

/// Moves a user's next reminder to `minute` (epoch minutes), as if that time had come:
/// settings always schedule the next occurrence, never the current one. Through the data layer's
/// retries, so it holds under a fault profile too. Returns once the `reminders-due` index
/// shows it (see [`wait_for_reminder_index`]).
pub async fn set_due_minute(db: &aws_sdk_dynamodb::Client, user_id: i64, minute: i64) {
    use aws_sdk_dynamodb::types::AttributeValue;
    use rota_store::SendRetried;
    db.update_item()
        .table_name("RotaTable")
        .key("PK", AttributeValue::S(format!("USER#{user_id}")))
        .key("SK", AttributeValue::S("PROFILE".into()))
        .update_expression("SET reminder_due_hour = :m")
        .expression_attribute_values(":m", AttributeValue::N(minute.to_string()))
        .send_retried()
        .await
        .expect("UpdateItem");
    wait_for_reminder_index(db, "RotaTable", user_id).await;
}

/// Waits (up to 5 s) until the `reminders-due` index shows `user_id` where the user's profile
/// (read strongly consistently) puts them: due at its `reminder_due_hour`, or not at all. The
/// index is eventually consistent (the emulator lags it, as DynamoDB does), so a test that
/// changes reminders and then runs the scheduler waits for it, as the next run would.
pub async fn wait_for_reminder_index(db: &aws_sdk_dynamodb::Client, table: &str, user_id: i64) {
    use aws_sdk_dynamodb::types::AttributeValue;
    use rota_store::SendRetried;
    let pk = format!("USER#{user_id}");
    let profile = item_at(db, table, &pk, "PROFILE")
        .await
        .expect("the user exists");
    let wanted = profile
        .get("reminder_bucket")
        .and(profile.get("reminder_due_hour"))
        .and_then(|h| h.as_n().ok())
        .cloned();
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    loop {
        let mut indexed = None;
        let mut start = None;
        loop {
            let out = db
                .query()
                .table_name(table)
                .index_name("reminders-due")
                .key_condition_expression("reminder_bucket = :b")
                .filter_expression("PK = :pk")
                .expression_attribute_values(
                    ":b",
                    AttributeValue::S(rota_store::users::REMINDER_BUCKET.into()),
                )
                .expression_attribute_values(":pk", AttributeValue::S(pk.clone()))
                .set_exclusive_start_key(start)
                .send_retried()
                .await
                .expect("Query");
            if let Some(item) = out.items().first() {
                indexed = item
                    .get("reminder_due_hour")
                    .and_then(|h| h.as_n().ok())
                    .cloned();
            }
            start = out.last_evaluated_key.filter(|k| !k.is_empty());
            if start.is_none() {
                break;
            }
        }
        if indexed == wanted {
            return;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "reminders-due still has {indexed:?} for user {user_id}, the profile {wanted:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
