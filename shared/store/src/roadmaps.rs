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
use aws_sdk_dynamodb::types::{Put, TransactWriteItem};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::item::{entity_item, is_zero, read};
use super::users::user_pk;
use super::{Item, Key, n, s, timestamp};
use super::{StoreError, Versioned};
use rota_domain::streak::Streak;

fn roadmap_key(user_id: i64, id: i64) -> Key {
    (user_pk(user_id), roadmap_sk(id))
}

pub(crate) fn plan_key(user_id: i64, id: i64) -> Key {
    (user_pk(user_id), plan_sk(id))
}

pub(crate) fn streak_key(user_id: i64) -> Key {
    (user_pk(user_id), "STREAK".into())
}

fn roadmap_sk(id: i64) -> String {
    format!("ROADMAP#{id:016}")
}

fn plan_sk(id: i64) -> String {
    format!("RMPLAN#{id}")
}

/// The roadmap item's attributes as well (with `steps_total`, added by [`Roadmap::to_item`]).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Roadmap {
    pub id: i64,
    pub user_id: i64,
    pub title: String,
    pub goal: String,
    pub level: String,
    pub hours_per_week: u32,
    pub total_hours: f64,
    pub total_weeks: u32,
    #[serde(with = "crate::item::millis")]
    pub created_at: DateTime<Utc>,
    /// (step id, title) in plan order; step ids are 1..=n. Stored as JSON text.
    #[serde(with = "crate::item::json_text")]
    pub steps: Vec<(u32, String)>,
    /// Done steps and when (a map of step id to time; absent: none done).
    #[serde(default, with = "done_map")]
    pub done: BTreeMap<u32, DateTime<Utc>>,
    /// Incremented by every step mark (0: never marked, no attribute); each mark is
    /// conditional on the version it read.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub version: u64,
}

/// The done steps as a map attribute `{"<step id>": "<time>"}` (what `mark` sets one by one).
mod done_map {
    use std::collections::BTreeMap;

    use chrono::{DateTime, Utc};
    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    #[derive(Serialize, Deserialize)]
    struct At(#[serde(with = "crate::item::millis")] DateTime<Utc>);

    pub fn serialize<S: Serializer>(
        done: &BTreeMap<u32, DateTime<Utc>>,
        to: S,
    ) -> Result<S::Ok, S::Error> {
        let map: BTreeMap<String, At> = done.iter().map(|(k, v)| (k.to_string(), At(*v))).collect();
        map.serialize(to)
    }

    /// Entries whose key is not a step id are left out, as the hand-written reader did.
    pub fn deserialize<'de, D: Deserializer<'de>>(
        from: D,
    ) -> Result<BTreeMap<u32, DateTime<Utc>>, D::Error> {
        let map = BTreeMap::<String, At>::deserialize(from)?;
        Ok(map
            .into_iter()
            .filter_map(|(k, At(at))| Some((k.parse().ok()?, at)))
            .collect())
    }
}

/// The streak item's attributes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct StreakItem {
    /// The local date, `YYYY-MM-DD`.
    pub last_day: chrono::NaiveDate,
    pub days: u32,
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

    pub(crate) fn to_item(&self) -> Result<Item, StoreError> {
        let mut item = entity_item(roadmap_key(self.user_id, self.id), "roadmap", self)?;
        // Derived from the steps, for readers of the item alone (never read back here).
        item.insert("steps_total".into(), n(self.steps.len()));
        Ok(item)
    }
}

#[derive(Debug)]
pub enum Mark {
    /// The step changed state (the roadmap as written).
    Changed(Roadmap),
    /// The roadmap or the streak changed since they were read: nothing was written.
    Stale,
}

/// The plan item's attributes: the generated plan as JSON text.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Plan {
    pub plan: String,
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
        let plan = Plan {
            plan: plan_json.to_owned(),
        };
        let plan = entity_item(plan_key(roadmap.user_id, roadmap.id), "roadmap_plan", &plan)?;
        let writes = [
            super::put_new(self.table, roadmap.to_item()?)?,
            super::put_new(self.table, plan)?,
        ];
        super::created(
            super::transact(self.db, writes.into_iter().chain(extra)).await,
            2,
        )
    }

    /// The user's roadmaps, newest first.
    pub async fn list(&self, user_id: i64) -> Result<Vec<Roadmap>, StoreError> {
        let mut roadmaps = Vec::new();
        let query = super::partition_query(self.db, self.table, user_pk(user_id))
            .key_condition_expression("PK = :pk AND begins_with(SK, :prefix)")
            .expression_attribute_values(":prefix", s("ROADMAP#"))
            .scan_index_forward(false);
        super::query_all(query, |out| {
            for item in out.items.unwrap_or_default() {
                roadmaps.push(read(item)?);
            }
            Ok(())
        })
        .await?;
        Ok(roadmaps)
    }

    /// The entity at `key`, read strongly consistently.
    async fn get_item<T: serde::de::DeserializeOwned>(
        &self,
        (pk, sk): Key,
    ) -> Result<Option<T>, StoreError> {
        super::get_item(self.db, self.table, pk, sk, true)
            .await?
            .map(read)
            .transpose()
    }

    pub async fn get(&self, user_id: i64, id: i64) -> Result<Option<Roadmap>, StoreError> {
        self.get_item(roadmap_key(user_id, id)).await
    }

    /// The stored plan JSON.
    pub async fn plan(&self, user_id: i64, id: i64) -> Result<Option<String>, StoreError> {
        let plan: Option<Plan> = self.get_item(plan_key(user_id, id)).await?;
        Ok(plan.map(|p| p.plan))
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
        let update = super::update(self.table, roadmap_key(current.user_id, current.id))
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
        let mut writes = vec![super::write_update(update.versioned(current.version))?];
        if let Some((previous, next)) = credit {
            writes.push(self.streak_put(current.user_id, previous, next)?);
        }
        let mut summary = current.clone();
        summary.version = next_version;
        if done {
            summary.done.insert(step, now);
        } else {
            summary.done.remove(&step);
        }
        let result = super::transact(self.db, writes).await;
        super::transacted(result, Mark::Changed(summary), |_| Ok(Mark::Stale))
    }

    /// Deletes a roadmap and its plan; `false` when there was none.
    pub async fn delete(&self, user_id: i64, id: i64) -> Result<bool, StoreError> {
        let writes = [
            super::write_delete(self.table, roadmap_key(user_id, id), true)?,
            super::write_delete(self.table, plan_key(user_id, id), false)?,
        ];
        let result = super::transact(self.db, writes).await;
        super::transacted(result, true, first_refused)
    }

    pub async fn streak(&self, user_id: i64) -> Result<Option<Streak>, StoreError> {
        let streak: Option<StreakItem> = self.get_item(streak_key(user_id)).await?;
        Ok(streak.map(|s| Streak {
            last_day: s.last_day,
            days: s.days,
        }))
    }

    /// The streak's Put, conditional on it still being `previous` (as a transaction write).
    fn streak_put(
        &self,
        user_id: i64,
        previous: Option<Streak>,
        next: Streak,
    ) -> Result<TransactWriteItem, StoreError> {
        let attributes = StreakItem {
            last_day: next.last_day,
            days: next.days,
        };
        let item = entity_item(streak_key(user_id), "streak", &attributes)?;
        let put = Put::builder().table_name(self.table).set_item(Some(item));
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
        let result = super::transact(self.db, [self.streak_put(user_id, previous, next)?]).await;
        super::transacted(result, true, first_refused)
    }
}

/// A transaction whose first write's condition failed: `false` (nothing there, or changed).
fn first_refused(refused: super::Refused) -> Result<bool, StoreError> {
    if refused.at(0) {
        Ok(false)
    } else {
        Err(refused.unexpected())
    }
}
