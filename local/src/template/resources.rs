//! Reading the template's DynamoDB tables and SQS queues (what `stack::ensure_resources`
//! creates in the emulator).

use serde_json::Value as Json;

use super::model::{
    AttributeDefinition, KeySchemaElement, Projection, Queue, RedrivePolicy, SecondaryIndex, Table,
    Template, TemplateError, TimeToLive,
};

impl Template {
    pub(super) fn parse_table(&self, id: &str, props: &Json) -> Result<Table, TemplateError> {
        let invalid = |what: &str| TemplateError::Invalid(format!("table {id}: {what}"));
        let name = self.table_name(id, 0).map_err(|e| invalid(&e))?;
        let str_field = |v: &Json, key: &str| -> Result<String, TemplateError> {
            v.get(key)
                .and_then(|x| self.resolve(x, None).ok())
                .ok_or_else(|| invalid(&format!("missing {key}")))
        };
        let key_schema = |v: Option<&Json>| -> Result<Vec<KeySchemaElement>, TemplateError> {
            items(v)
                .iter()
                .map(|k| {
                    Ok(KeySchemaElement {
                        name: str_field(k, "AttributeName")?,
                        key_type: str_field(k, "KeyType")?,
                    })
                })
                .collect()
        };
        let throughput = |v: Option<&Json>| -> Option<(i64, i64)> {
            let v = v?;
            let n = |k: &str| self.resolve(v.get(k)?, None).ok()?.parse::<i64>().ok();
            Some((n("ReadCapacityUnits")?, n("WriteCapacityUnits")?))
        };
        let indexes = |v: Option<&Json>| -> Result<Vec<SecondaryIndex>, TemplateError> {
            items(v)
                .iter()
                .map(|ix| {
                    let projection = ix.get("Projection").cloned().unwrap_or(Json::Null);
                    Ok(SecondaryIndex {
                        name: str_field(ix, "IndexName")?,
                        key_schema: key_schema(ix.get("KeySchema"))?,
                        projection: Projection {
                            projection_type: projection
                                .get("ProjectionType")
                                .and_then(|p| self.resolve(p, None).ok())
                                .unwrap_or_else(|| "ALL".to_string()),
                            non_key_attributes: items(projection.get("NonKeyAttributes"))
                                .iter()
                                .filter_map(|a| self.resolve(a, None).ok())
                                .collect(),
                        },
                        provisioned_throughput: throughput(ix.get("ProvisionedThroughput")),
                    })
                })
                .collect()
        };

        let attribute_definitions = items(props.get("AttributeDefinitions"))
            .iter()
            .map(|a| {
                Ok(AttributeDefinition {
                    name: str_field(a, "AttributeName")?,
                    kind: str_field(a, "AttributeType")?,
                })
            })
            .collect::<Result<Vec<_>, TemplateError>>()?;
        let key_schema_v = key_schema(props.get("KeySchema"))?;
        if key_schema_v.is_empty() {
            return Err(invalid("missing KeySchema"));
        }
        let time_to_live = props.get("TimeToLiveSpecification").and_then(|t| {
            Some(TimeToLive {
                attribute_name: self.resolve(t.get("AttributeName")?, None).ok()?,
                enabled: t
                    .get("Enabled")
                    .and_then(|e| self.resolve(e, None).ok())
                    .is_some_and(|e| e == "true"),
            })
        });
        Ok(Table {
            logical_id: id.to_string(),
            name,
            attribute_definitions,
            key_schema: key_schema_v,
            global_secondary_indexes: indexes(props.get("GlobalSecondaryIndexes"))?,
            local_secondary_indexes: indexes(props.get("LocalSecondaryIndexes"))?,
            time_to_live,
            billing_mode: props
                .get("BillingMode")
                .and_then(|b| self.resolve(b, None).ok())
                .unwrap_or_else(|| "PAY_PER_REQUEST".to_string()),
            provisioned_throughput: throughput(props.get("ProvisionedThroughput")),
            stream_view_type: props
                .get("StreamSpecification")
                .and_then(|s| s.get("StreamViewType"))
                .and_then(|s| self.resolve(s, None).ok()),
        })
    }

    pub(super) fn parse_queue(&self, id: &str, props: &Json) -> Result<Queue, TemplateError> {
        let invalid = |what: &str| TemplateError::Invalid(format!("queue {id}: {what}"));
        let name = self.queue_name(id, 0).map_err(|e| invalid(&e))?;
        let num = |key: &str| -> Result<Option<u32>, TemplateError> {
            match props.get(key) {
                None | Some(Json::Null) => Ok(None),
                Some(v) => self
                    .resolve(v, None)
                    .ok()
                    .and_then(|s| s.trim().parse::<u32>().ok())
                    .map(Some)
                    .ok_or_else(|| invalid(&format!("{key} is not a number"))),
            }
        };
        let flag = |key: &str| {
            props
                .get(key)
                .and_then(|v| self.resolve(v, None).ok())
                .is_some_and(|s| s == "true")
        };
        let redrive_policy = match props.get("RedrivePolicy") {
            None | Some(Json::Null) => None,
            Some(rp) => {
                // CloudFormation accepts the policy as an object or as a JSON string.
                let rp = match rp {
                    Json::String(s) => serde_json::from_str(s)
                        .map_err(|_| invalid("RedrivePolicy is not valid JSON"))?,
                    other => other.clone(),
                };
                let target = rp
                    .get("deadLetterTargetArn")
                    .ok_or_else(|| invalid("RedrivePolicy has no deadLetterTargetArn"))?;
                let dead_letter_target_arn = self
                    .resolve(target, None)
                    .map_err(|e| invalid(&format!("RedrivePolicy.deadLetterTargetArn: {e}")))?;
                let max_receive_count = rp
                    .get("maxReceiveCount")
                    .and_then(|v| self.resolve(v, None).ok())
                    .and_then(|s| s.trim().parse::<u32>().ok())
                    .ok_or_else(|| invalid("RedrivePolicy.maxReceiveCount is not a number"))?;
                Some(RedrivePolicy {
                    dead_letter_target_arn,
                    max_receive_count,
                })
            }
        };
        Ok(Queue {
            logical_id: id.to_string(),
            name,
            visibility_timeout: num("VisibilityTimeout")?,
            message_retention_period: num("MessageRetentionPeriod")?,
            delay_seconds: num("DelaySeconds")?,
            receive_message_wait_time_seconds: num("ReceiveMessageWaitTimeSeconds")?,
            maximum_message_size: num("MaximumMessageSize")?,
            fifo: flag("FifoQueue"),
            content_based_deduplication: flag("ContentBasedDeduplication"),
            redrive_policy,
        })
    }
}

/// The items of a list property: none when it is missing or not a list.
fn items(v: Option<&Json>) -> &[Json] {
    v.and_then(Json::as_array)
        .map(Vec::as_slice)
        .unwrap_or_default()
}
