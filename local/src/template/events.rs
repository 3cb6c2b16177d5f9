//! Reading a function's `Schedule` / `ScheduleV2` and `SQS` events, with the checks AWS makes
//! (an invalid expression, `Input` that is not JSON, or SQS settings AWS would refuse fail the
//! load).

use serde_json::Value as Json;

use super::model::{
    DEFAULT_SQS_BATCH_SIZE, LOCAL_STACK_NAME, ScheduleSource, SqsSource, Template, TemplateError,
};
use super::schedule_expression::ScheduleExpression;

impl Template {
    pub(super) fn parse_schedule(
        &self,
        id: &str,
        event: &str,
        kind: &str,
        props: &Json,
    ) -> Result<ScheduleSource, TemplateError> {
        let invalid = |what: String| TemplateError::Invalid(format!("{id}.{event}: {what}"));
        let text = |key: &str| -> Result<Option<String>, TemplateError> {
            match props.get(key) {
                None | Some(Json::Null) => Ok(None),
                Some(v) => self
                    .resolve(v, None)
                    .map(Some)
                    .map_err(|e| invalid(format!("{key}: {e}"))),
            }
        };
        // SAM spells it `Schedule` for `Type: Schedule` and `ScheduleExpression` for ScheduleV2;
        // either is accepted for both.
        let expression = match (text("ScheduleExpression")?, text("Schedule")?) {
            (Some(e), _) | (None, Some(e)) => e,
            (None, None) => return Err(invalid("no ScheduleExpression".into())),
        };
        let expression =
            ScheduleExpression::parse(&expression).map_err(|e| invalid(e.to_string()))?;
        if let Some(tz) = text("ScheduleExpressionTimezone")?
            && !matches!(tz.as_str(), "UTC" | "Etc/UTC" | "GMT" | "Etc/GMT")
        {
            tracing::warn!(
                "{id}.{event}: ScheduleExpressionTimezone {tz} is not emulated; \
                 rota-local fires {expression} in UTC"
            );
        }
        for key in ["StartDate", "EndDate"] {
            if props.get(key).is_some() {
                tracing::warn!("{id}.{event}: {key} is not emulated");
            }
        }
        let input = match text("Input")? {
            None => None,
            Some(raw) => Some(
                serde_json::from_str::<Json>(&raw)
                    .map_err(|e| invalid(format!("Input is not valid JSON: {e}")))?,
            ),
        };
        let enabled = match (text("Enabled")?, text("State")?) {
            (Some(e), _) if e.eq_ignore_ascii_case("false") => false,
            (_, Some(state)) => !state.eq_ignore_ascii_case("DISABLED"),
            _ => true,
        };
        let name = match text("Name")? {
            Some(n) => n,
            // SAM names a ScheduleV2 schedule after its logical id; a Schedule's rule gets a
            // name CloudFormation generates from the stack and the logical id.
            None if kind == "ScheduleV2" => format!("{id}{event}"),
            None => format!("{LOCAL_STACK_NAME}-{id}{event}"),
        };
        Ok(ScheduleSource {
            kind: kind.to_string(),
            expression,
            input,
            enabled,
            name,
        })
    }

    pub(super) fn parse_sqs(
        &self,
        id: &str,
        event: &str,
        props: &Json,
    ) -> Result<SqsSource, TemplateError> {
        let invalid = |what: String| TemplateError::Invalid(format!("{id}.{event}: {what}"));
        let number = |key: &str, value: Option<&Json>, default: Option<u32>, range: (u32, u32)| {
            let n = match value {
                None | Some(Json::Null) => return Ok(default),
                Some(v) => self
                    .resolve(v, None)
                    .ok()
                    .and_then(|s| s.trim().parse::<u32>().ok())
                    .ok_or_else(|| invalid(format!("{key} is not a number")))?,
            };
            if n < range.0 || n > range.1 {
                return Err(invalid(format!(
                    "{key} {n} is out of range ({}-{})",
                    range.0, range.1
                )));
            }
            Ok(Some(n))
        };
        let queue = props
            .get("Queue")
            .ok_or_else(|| invalid("no Queue".into()))?;
        let queue_arn = self
            .resolve(queue, None)
            .map_err(|e| invalid(format!("Queue: {e}")))?;
        let queue_name = queue_arn
            .strip_prefix("arn:")
            .filter(|rest| rest.split(':').nth(1) == Some("sqs"))
            .and_then(|rest| rest.rsplit(':').next())
            .filter(|n| !n.is_empty())
            .ok_or_else(|| invalid(format!("Queue {queue_arn} is not an SQS queue ARN")))?
            .to_string();
        // `!GetAtt Queue.Arn` names the resource; a literal ARN may still match one by name.
        let queue_logical_id = match queue.get("Fn::GetAtt").and_then(Json::as_array) {
            Some(a) if a.first().and_then(Json::as_str).is_some() => {
                a[0].as_str().map(str::to_string)
            }
            _ => self
                .resources
                .iter()
                .filter(|(_, r)| r.get("Type").and_then(Json::as_str) == Some("AWS::SQS::Queue"))
                .map(|(qid, _)| qid)
                .find(|qid| self.queue_name(qid, 0).ok().as_deref() == Some(&queue_name))
                .cloned(),
        };
        let fifo = queue_name.ends_with(".fifo");
        let batch_size = number(
            "BatchSize",
            props.get("BatchSize"),
            Some(DEFAULT_SQS_BATCH_SIZE),
            (1, if fifo { 10 } else { 10_000 }),
        )?
        .unwrap_or(DEFAULT_SQS_BATCH_SIZE);
        let window = number(
            "MaximumBatchingWindowInSeconds",
            props.get("MaximumBatchingWindowInSeconds"),
            Some(0),
            (0, 300),
        )?
        .unwrap_or(0);
        if batch_size > 10 && window == 0 {
            return Err(invalid(
                "a BatchSize over 10 needs MaximumBatchingWindowInSeconds of at least 1".into(),
            ));
        }
        let mut report_batch_item_failures = false;
        if let Some(types) = props.get("FunctionResponseTypes") {
            let types = types
                .as_array()
                .ok_or_else(|| invalid("FunctionResponseTypes is not a list".into()))?;
            for t in types {
                match self.resolve(t, None).as_deref() {
                    Ok("ReportBatchItemFailures") => report_batch_item_failures = true,
                    other => {
                        return Err(invalid(format!(
                            "unknown FunctionResponseTypes entry {other:?}"
                        )));
                    }
                }
            }
        }
        let maximum_concurrency = number(
            "ScalingConfig.MaximumConcurrency",
            props
                .get("ScalingConfig")
                .and_then(|s| s.get("MaximumConcurrency")),
            None,
            (2, 1000),
        )?;
        let enabled = props
            .get("Enabled")
            .and_then(|v| self.resolve(v, None).ok())
            .is_none_or(|v| !v.eq_ignore_ascii_case("false"));
        if props.get("FilterCriteria").is_some() {
            tracing::warn!(
                "{id}.{event}: FilterCriteria is not emulated; every message reaches the function"
            );
        }
        Ok(SqsSource {
            queue_arn,
            queue_name,
            queue_logical_id,
            batch_size,
            maximum_batching_window_secs: window,
            report_batch_item_failures,
            maximum_concurrency,
            enabled,
        })
    }
}
