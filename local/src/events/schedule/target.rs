//! Which schedules a template has, and what firing one sends: EventBridge's Scheduled Event
//! (or the schedule's `Input`), invoked once.

use chrono::{DateTime, Utc};
use serde_json::{Value as Json, json};

use crate::lambda_service::{InvokeError, InvokeOutput, LambdaService};
use crate::template::{Function, LOCAL_ACCOUNT_ID, LOCAL_REGION, ScheduleSource, Template};

/// One schedule of one function.
#[derive(Debug, Clone, PartialEq)]
pub struct ScheduledFunction {
    /// Logical id of the function.
    pub function: String,
    /// Short name of the function (its handler, else its binary).
    pub name: String,
    /// Name of the event in the function's `Events`.
    pub event: String,
    pub source: ScheduleSource,
}

impl ScheduledFunction {
    /// What the function receives for the firing at `time`: the `Input` JSON when the template
    /// gives one, else EventBridge's Scheduled Event.
    pub fn event_at(&self, time: DateTime<Utc>) -> Json {
        match &self.source.input {
            Some(input) => input.clone(),
            None => scheduled_event(&self.source.arn(), time),
        }
    }

    /// `Function.Event`, for logs.
    pub fn label(&self) -> String {
        format!("{}.{}", self.function, self.event)
    }
}

/// Every `Schedule` / `ScheduleV2` event of the template (disabled ones included; see
/// [`ScheduleSource::enabled`]).
pub fn scheduled_functions(template: &Template) -> Vec<ScheduledFunction> {
    template.functions.iter().flat_map(schedules_of).collect()
}

/// The schedules of one function.
fn schedules_of(f: &Function) -> impl Iterator<Item = ScheduledFunction> + '_ {
    f.schedules().map(|(event, source)| ScheduledFunction {
        function: f.logical_id.clone(),
        name: f.name().to_string(),
        event: event.to_string(),
        source: source.clone(),
    })
}

/// The schedule to fire for `function` (a logical id, else its short name —
/// its handler — or its binary) and, when the
/// function has several schedules, `event` (the event's name).
pub fn find_target(
    template: &Template,
    function: &str,
    event: Option<&str>,
) -> Result<ScheduledFunction, String> {
    let functions: Vec<_> = match template.function(function) {
        Some(f) => vec![f],
        None => template
            .functions
            .iter()
            .filter(|f| f.name() == function || f.binary == function)
            .collect(),
    };
    if functions.is_empty() {
        let names: Vec<_> = template
            .functions
            .iter()
            .filter(|f| f.schedules().next().is_some())
            .map(|f| format!("{} ({})", f.logical_id, f.name()))
            .collect();
        return Err(format!(
            "no function {function} in the template (functions with schedules: {})",
            if names.is_empty() {
                "none".to_string()
            } else {
                names.join(", ")
            }
        ));
    }
    let candidates: Vec<ScheduledFunction> = functions
        .iter()
        .flat_map(|f| schedules_of(f))
        .filter(|s| event.is_none_or(|e| s.event == e))
        .collect();
    match candidates.len() {
        1 => Ok(candidates.into_iter().next().expect("one candidate")),
        0 => Err(match event {
            Some(e) => format!("{function} has no Schedule or ScheduleV2 event named {e}"),
            None => format!("{function} has no Schedule or ScheduleV2 event"),
        }),
        _ => Err(format!(
            "{function} matches several schedules ({}); choose one with --function <LogicalId> \
             and --event <EventName>",
            candidates
                .iter()
                .map(ScheduledFunction::label)
                .collect::<Vec<_>>()
                .join(", ")
        )),
    }
}

/// EventBridge's Scheduled Event, as a rule sends it to Lambda: `time` is the scheduled time
/// (whole seconds, `Z`), `resources` the rule (or schedule) ARN, `id` a new UUID.
pub fn scheduled_event(resource_arn: &str, time: DateTime<Utc>) -> Json {
    json!({
        "version": "0",
        "id": uuid::Uuid::new_v4().to_string(),
        "detail-type": "Scheduled Event",
        "source": "aws.events",
        "account": LOCAL_ACCOUNT_ID,
        "time": time.format("%Y-%m-%dT%H:%M:%SZ").to_string(),
        "region": LOCAL_REGION,
        "resources": [resource_arn],
        "detail": {},
    })
}

/// Invokes the function once (synchronously) with the event of the firing at `time`.
pub async fn fire(
    lambda: &LambdaService,
    target: &ScheduledFunction,
    time: DateTime<Utc>,
) -> Result<InvokeOutput, InvokeError> {
    let payload = serde_json::to_vec(&target.event_at(time))
        .map_err(|e| InvokeError::Internal(e.to_string()))?;
    lambda.invoke(&target.function, payload.into()).await
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_lambda_events::event::eventbridge::EventBridgeEvent;

    const TEMPLATE: &str = crate::template::fixtures::EVENTS;

    fn t(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    #[test]
    fn scheduled_event_is_eventbridges() {
        let arn = "arn:aws:events:us-east-1:123456789012:rule/my-rule";
        let e = scheduled_event(arn, t("2024-05-01T10:00:00.750Z"));
        assert_eq!(e["time"], "2024-05-01T10:00:00Z");
        assert_eq!(e["version"], "0");
        assert_eq!(e["detail"], json!({}));
        assert!(uuid::Uuid::parse_str(e["id"].as_str().unwrap()).is_ok());
        let parsed: EventBridgeEvent = serde_json::from_value(e.clone()).unwrap();
        assert_eq!(parsed.detail_type, "Scheduled Event");
        assert_eq!(parsed.source, "aws.events");
        assert_eq!(parsed.account.as_deref(), Some(LOCAL_ACCOUNT_ID));
        assert_eq!(parsed.region.as_deref(), Some("us-east-1"));
        assert_eq!(parsed.time, Some(t("2024-05-01T10:00:00Z")));
        assert_eq!(parsed.resources, Some(vec![arn.to_string()]));
        // Every field AWS sends, and nothing else.
        let mut keys: Vec<_> = e.as_object().unwrap().keys().cloned().collect();
        keys.sort();
        assert_eq!(
            keys,
            [
                "account",
                "detail",
                "detail-type",
                "id",
                "region",
                "resources",
                "source",
                "time",
                "version"
            ]
        );
        // A new id per event.
        assert_ne!(
            e["id"],
            scheduled_event(arn, t("2024-05-01T10:00:00Z"))["id"]
        );
    }

    #[test]
    fn targets_from_the_template() {
        let template = Template::parse(TEMPLATE).unwrap();
        let all = scheduled_functions(&template);
        let labels: Vec<_> = all.iter().map(ScheduledFunction::label).collect();
        assert_eq!(
            labels,
            [
                "Digest.Daily",
                "Digest.Weekly",
                "Reminders.Hourly",
                "Worker.Hourly",
                "Worker.Nightly"
            ]
        );

        let hourly = find_target(&template, "Reminders", None).unwrap();
        assert!(hourly.source.is_v2() && hourly.source.enabled);
        assert_eq!(
            hourly.source.arn(),
            "arn:aws:scheduler:us-east-1:123456789012:schedule/default/RemindersHourly"
        );
        let e: EventBridgeEvent =
            serde_json::from_value(hourly.event_at(t("2024-05-01T10:00:00Z"))).unwrap();
        assert_eq!(
            e.resources.unwrap(),
            ["arn:aws:scheduler:us-east-1:123456789012:schedule/default/RemindersHourly"]
        );
        // By binary name too.
        assert_eq!(find_target(&template, "reminders", None).unwrap(), hourly);

        // Input replaces the event.
        let daily = find_target(&template, "digest", Some("Daily")).unwrap();
        assert_eq!(
            daily.event_at(t("2024-05-01T10:00:00Z")),
            json!({"kind": "daily", "n": 1})
        );
        assert_eq!(
            daily.source.arn(),
            "arn:aws:events:us-east-1:123456789012:rule/rota-local-DigestDaily"
        );
        let weekly = find_target(&template, "Digest", Some("Weekly")).unwrap();
        assert!(!weekly.source.enabled);
        assert_eq!(
            weekly.source.arn(),
            "arn:aws:events:us-east-1:123456789012:rule/weekly-digest"
        );

        let several = find_target(&template, "Digest", None).unwrap_err();
        assert!(several.contains("Digest.Daily, Digest.Weekly"), "{several}");
        assert!(find_target(&template, "Nope", None).is_err());
        assert!(find_target(&template, "Digest", Some("Api")).is_err());
    }
}
