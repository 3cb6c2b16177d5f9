//! Roadmaps, their progress and the user's streak.
//!
//! | item | PK | SK | holds |
//! |---|---|---|---|
//! | roadmap | `USER#<user id>` | `ROADMAP#<id, 16 digits>` | id, title, goal, level, hours_per_week, total_hours, total_weeks, created_at, steps (JSON `[[id, title], …]` in plan order), `done` (map step id → done_at) |
//! | plan | `USER#<user id>` | `RMPLAN#<id>` | the generated plan (JSON; never changes) |
//! | streak | `USER#<user id>` | `STREAK` | last_day (local date), days |
//!
//! Keys live under the owner's partition, so another user's lookup finds nothing (404) without
//! a separate ownership check. The small roadmap item carries what lists and the dashboard
//! need (progress, next step); the large plan item is read only for one roadmap.

use std::collections::BTreeMap;

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::types::{AttributeValue, Delete, Put, TransactWriteItem, Update};
use chrono::{DateTime, NaiveDate, Utc};

use super::posts::timestamp;
use super::{Item, cancellation_codes, db_error, get_n, get_s, n, s};
use super::{SendRetried, StoreError, Versioned};
use rota_domain::streak::Streak;

fn user_pk(user_id: i64) -> String {
    format!("USER#{user_id}")
}

fn roadmap_sk(id: i64) -> String {
    format!("ROADMAP#{id:016}")
}

fn plan_sk(id: i64) -> String {
    format!("RMPLAN#{id}")
}

#[derive(Debug, Clone, PartialEq)]
pub struct Roadmap {
    pub id: i64,
    pub user_id: i64,
    pub title: String,
    pub goal: String,
    pub level: String,
    pub hours_per_week: u32,
    pub total_hours: f64,
    pub total_weeks: u32,
    pub created_at: DateTime<Utc>,
    /// (step id, title) in plan order; step ids are 1..=n.
    pub steps: Vec<(u32, String)>,
    /// Done steps and when.
    pub done: BTreeMap<u32, DateTime<Utc>>,
    /// Incremented by every step mark (0: never marked); each mark is conditional on the
    /// version it read.
    pub version: u64,
}

impl Roadmap {
    /// Whole percent of steps done; 100 only when every step is.
    pub fn progress_percent(&self) -> u32 {
        if self.steps.is_empty() {
            return 0;
        }
        (self.done.len() * 100 / self.steps.len()) as u32
    }

    /// The first step not yet done, in plan order.
    pub fn next_step(&self) -> Option<(u32, &str)> {
        self.steps
            .iter()
            .find(|(id, _)| !self.done.contains_key(id))
            .map(|(id, title)| (*id, title.as_str()))
    }

    fn to_item(&self) -> Item {
        Item::from([
            ("PK".into(), s(user_pk(self.user_id))),
            ("SK".into(), s(roadmap_sk(self.id))),
            ("entity".into(), s("roadmap")),
            ("id".into(), n(self.id)),
            ("user_id".into(), n(self.user_id)),
            ("title".into(), s(&self.title)),
            ("goal".into(), s(&self.goal)),
            ("level".into(), s(&self.level)),
            ("hours_per_week".into(), n(self.hours_per_week)),
            ("total_hours".into(), n(self.total_hours)),
            ("total_weeks".into(), n(self.total_weeks)),
            ("created_at".into(), s(timestamp(self.created_at))),
            (
                "steps".into(),
                s(serde_json::to_string(&self.steps).unwrap_or_default()),
            ),
            ("steps_total".into(), n(self.steps.len())),
            ("done".into(), AttributeValue::M(Default::default())),
        ])
    }

    fn from_item(item: &Item) -> Result<Self, StoreError> {
        let parse_time = |raw: &str| {
            DateTime::parse_from_rfc3339(raw)
                .map(|t| t.with_timezone(&Utc))
                .map_err(StoreError::internal)
        };
        let mut done = BTreeMap::new();
        if let Some(AttributeValue::M(map)) = item.get("done") {
            for (step, at) in map {
                if let (Ok(step), AttributeValue::S(at)) = (step.parse(), at) {
                    done.insert(step, parse_time(at)?);
                }
            }
        }
        Ok(Self {
            id: get_n(item, "id")?,
            user_id: get_n(item, "user_id")?,
            title: get_s(item, "title")?,
            goal: get_s(item, "goal")?,
            level: get_s(item, "level")?,
            hours_per_week: get_n(item, "hours_per_week")?,
            total_hours: get_n(item, "total_hours")?,
            total_weeks: get_n(item, "total_weeks")?,
            created_at: super::get_time(item, "created_at")?,
            steps: serde_json::from_str(&get_s(item, "steps")?).map_err(StoreError::internal)?,
            done,
            version: super::get_version(item)?,
        })
    }
}

#[derive(Debug)]
pub enum Mark {
    /// The step changed state (the roadmap as written).
    Changed(Roadmap),
    /// The roadmap or the streak changed since they were read: nothing was written.
    Stale,
}

pub struct Roadmaps<'a> {
    db: &'a Client,
    table: &'a str,
}

impl<'a> Roadmaps<'a> {
    pub fn new(db: &'a Client, table: &'a str) -> Self {
        Self { db, table }
    }

    /// Stores a new roadmap and its plan; `false` when the id was taken.
    /// Writes the roadmap and its plan in one transaction with `extra` writes (an idempotency
    /// record); `false` when its id was taken (retry with a new one).
    pub async fn create(
        &self,
        roadmap: &Roadmap,
        plan_json: &str,
        extra: Vec<TransactWriteItem>,
    ) -> Result<bool, StoreError> {
        let plan = Item::from([
            ("PK".into(), s(user_pk(roadmap.user_id))),
            ("SK".into(), s(plan_sk(roadmap.id))),
            ("entity".into(), s("roadmap_plan")),
            ("plan".into(), s(plan_json)),
        ]);
        let mut request = self
            .db
            .transact_write_items()
            .transact_items(super::put_new(self.table, roadmap.to_item())?)
            .transact_items(super::put_new(self.table, plan)?);
        for write in extra {
            request = request.transact_items(write);
        }
        super::created(request.send_retried().await, 2)
    }

    /// The user's roadmaps, newest first.
    pub async fn list(&self, user_id: i64) -> Result<Vec<Roadmap>, StoreError> {
        let mut roadmaps = Vec::new();
        let query = self
            .db
            .query()
            .table_name(self.table)
            .key_condition_expression("PK = :pk AND begins_with(SK, :prefix)")
            .expression_attribute_values(":pk", s(user_pk(user_id)))
            .expression_attribute_values(":prefix", s("ROADMAP#"))
            .scan_index_forward(false);
        super::query_all(query, |out| {
            for item in out.items() {
                roadmaps.push(Roadmap::from_item(item)?);
            }
            Ok(())
        })
        .await?;
        Ok(roadmaps)
    }

    async fn get_item(&self, user_id: i64, sk: String) -> Result<Option<Item>, StoreError> {
        super::get_item(self.db, self.table, user_pk(user_id), sk, true).await
    }

    pub async fn get(&self, user_id: i64, id: i64) -> Result<Option<Roadmap>, StoreError> {
        self.get_item(user_id, roadmap_sk(id))
            .await?
            .as_ref()
            .map(Roadmap::from_item)
            .transpose()
    }

    /// The stored plan JSON.
    pub async fn plan(&self, user_id: i64, id: i64) -> Result<Option<String>, StoreError> {
        self.get_item(user_id, plan_sk(id))
            .await?
            .map(|item| get_s(&item, "plan"))
            .transpose()
    }

    /// Marks step `step` of `current` (as read) done or not, with `credit` (the streak as read
    /// and as it becomes) in the same transaction: a step is done exactly when its day is
    /// credited, whatever answer is lost. Conditional on the roadmap's version and the streak
    /// as read, so an abandoned attempt that lands after a newer write is refused instead of
    /// undoing it; a retry of this call carries the same `ClientRequestToken` and learns the
    /// first attempt's outcome. `Stale` when either changed since read: re-read and decide again.
    pub async fn mark(
        &self,
        current: &Roadmap,
        step: u32,
        done: bool,
        now: DateTime<Utc>,
        credit: Option<(Option<Streak>, Streak)>,
    ) -> Result<Mark, StoreError> {
        let next_version = current.version + 1;
        let update = Update::builder()
            .table_name(self.table)
            .key("PK", s(user_pk(current.user_id)))
            .key("SK", s(roadmap_sk(current.id)))
            .expression_attribute_names("#done", "done")
            .expression_attribute_names("#step", step.to_string())
            .expression_attribute_values(":next", n(next_version));
        let update = if done {
            update
                .update_expression("SET #done.#step = :at, version = :next")
                .expression_attribute_values(":at", s(timestamp(now)))
        } else {
            update.update_expression("REMOVE #done.#step SET version = :next")
        };
        let update = update
            .versioned(current.version)
            .build()
            .map_err(StoreError::internal)?;
        let mut request = self
            .db
            .transact_write_items()
            .transact_items(TransactWriteItem::builder().update(update).build());
        if let Some((previous, next)) = credit {
            request = request.transact_items(self.streak_put(current.user_id, previous, next)?);
        }
        match request.send_retried().await {
            Ok(_) => {
                let mut summary = current.clone();
                summary.version = next_version;
                if done {
                    summary.done.insert(step, now);
                } else {
                    summary.done.remove(&step);
                }
                Ok(Mark::Changed(summary))
            }
            Err(err)
                if cancellation_codes(&err)
                    .is_some_and(|c| c.iter().any(|c| c == "ConditionalCheckFailed")) =>
            {
                Ok(Mark::Stale)
            }
            Err(err) => Err(db_error("TransactWriteItems")(err)),
        }
    }

    /// Deletes a roadmap and its plan; `false` when there was none.
    pub async fn delete(&self, user_id: i64, id: i64) -> Result<bool, StoreError> {
        let delete = |sk: String, conditional: bool| -> Result<TransactWriteItem, StoreError> {
            let mut d = Delete::builder()
                .table_name(self.table)
                .key("PK", s(user_pk(user_id)))
                .key("SK", s(sk));
            if conditional {
                d = d.condition_expression("attribute_exists(PK)");
            }
            Ok(TransactWriteItem::builder()
                .delete(d.build().map_err(StoreError::internal)?)
                .build())
        };
        let result = self
            .db
            .transact_write_items()
            .transact_items(delete(roadmap_sk(id), true)?)
            .transact_items(delete(plan_sk(id), false)?)
            .send_retried()
            .await;
        match result {
            Ok(_) => Ok(true),
            Err(err)
                if cancellation_codes(&err)
                    .is_some_and(|c| c.first().is_some_and(|c| c == "ConditionalCheckFailed")) =>
            {
                Ok(false)
            }
            Err(err) => Err(db_error("TransactWriteItems")(err)),
        }
    }

    pub async fn streak(&self, user_id: i64) -> Result<Option<Streak>, StoreError> {
        let Some(item) = self.get_item(user_id, "STREAK".into()).await? else {
            return Ok(None);
        };
        let last_day = NaiveDate::parse_from_str(&get_s(&item, "last_day")?, "%Y-%m-%d")
            .map_err(StoreError::internal)?;
        Ok(Some(Streak {
            last_day,
            days: get_n(&item, "days")?,
        }))
    }

    /// The streak's Put, conditional on it still being `previous` (as a transaction write).
    fn streak_put(
        &self,
        user_id: i64,
        previous: Option<Streak>,
        next: Streak,
    ) -> Result<TransactWriteItem, StoreError> {
        let put = Put::builder()
            .table_name(self.table)
            .item("PK", s(user_pk(user_id)))
            .item("SK", s("STREAK"))
            .item("entity", s("streak"))
            .item("last_day", s(next.last_day.format("%Y-%m-%d").to_string()))
            .item("days", n(next.days));
        let put = match previous {
            Some(p) => put
                .condition_expression("last_day = :day AND days = :days")
                .expression_attribute_values(":day", s(p.last_day.format("%Y-%m-%d").to_string()))
                .expression_attribute_values(":days", n(p.days)),
            None => put.condition_expression("attribute_not_exists(PK)"),
        };
        Ok(TransactWriteItem::builder()
            .put(put.build().map_err(StoreError::internal)?)
            .build())
    }

    /// Replaces the streak if it is still `previous` (optimistic: concurrent completions on
    /// another instance make this return `false`, and the caller re-reads).
    pub async fn save_streak(
        &self,
        user_id: i64,
        previous: Option<Streak>,
        next: Streak,
    ) -> Result<bool, StoreError> {
        // The step mark's own streak write, on its own: one write, one condition.
        let result = self
            .db
            .transact_write_items()
            .transact_items(self.streak_put(user_id, previous, next)?)
            .send_retried()
            .await;
        match result {
            Ok(_) => Ok(true),
            Err(err)
                if cancellation_codes(&err)
                    .is_some_and(|c| c.first().is_some_and(|c| c == "ConditionalCheckFailed")) =>
            {
                Ok(false)
            }
            Err(err) => Err(db_error("TransactWriteItems")(err)),
        }
    }
}
