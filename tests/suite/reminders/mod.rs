//! Daily reminders against the real emulator: exactly one per user per local day, whatever
//! is redelivered, duplicated, crashed or raced. The worker (`delivery`), the scheduler and the
//! queue (`schedule`), and the whole pipeline under faults (`under_faults`).

mod delivery;
mod email;
mod schedule;
mod under_faults;

use rota_store::users::DueUser;
use rota_tests::*;

/// A moment just after `due_hour` began: the worker's clock when the hour has come.
fn just_after(due_hour: i64) -> chrono::DateTime<chrono::Utc> {
    chrono::DateTime::from_timestamp(due_hour * 3600 + 300, 0).unwrap()
}

async fn due_hour(app: &TestApp, id: i64) -> i64 {
    rota_store::users::Users::new(app.db(), app.table())
        .get(id)
        .await
        .unwrap()
        .unwrap()
        .reminder_due_hour
        .expect("reminders are on")
}

async fn reminders_of(app: &TestApp, learner: &Learner) -> (Vec<serde_json::Value>, u64) {
    let list = call(
        app,
        &rota_api::handlers::notifications::ListNotifications,
        &with_token(sample_event("notifications-list"), &learner.token),
    )
    .await;
    let items = list.json()["items"].as_array().unwrap().clone();
    let unread = rota_store::notifications::Notifications::new(app.db(), app.table())
        .unread(learner.id)
        .await
        .unwrap();
    (items, unread)
}

/// A learner (with an unfinished roadmap when asked) and their next reminder, as the scheduler
/// queues it.
async fn due_learner(app: &TestApp, with_roadmap: bool) -> (Learner, DueUser) {
    let learner = learner(app, with_roadmap).await;
    let due = DueUser {
        id: learner.id,
        due_hour: due_hour(app, learner.id).await,
    };
    (learner, due)
}
