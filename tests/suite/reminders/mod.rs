//! Daily reminders against the real emulator: exactly one per user per local day, whatever
//! is redelivered, duplicated, crashed or raced. The worker (`delivery`), the scheduler and the
//! queue (`schedule`), the local clock knob and items from before minutes (`clock`), and the
//! whole pipeline under faults (`under_faults`).

mod clock;
mod delivery;
mod email;
mod schedule;
mod under_faults;

use rota_store::users::DueUser;
use rota_tests::*;
use serde_json::json;

/// An hour in epoch minutes (due times are epoch minutes).
const HOUR: i64 = 60;

/// A moment just after the epoch minute `due`: the worker's clock when the time has come.
fn just_after(due: i64) -> chrono::DateTime<chrono::Utc> {
    chrono::DateTime::from_timestamp(due * 60 + 20, 0).unwrap()
}

/// The user's stored due time (epoch minutes).
async fn due_at(app: &TestApp, id: i64) -> i64 {
    rota_store::users::Users::new(app.db(), app.table())
        .get(id)
        .await
        .unwrap()
        .unwrap()
        .reminder_due
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
        due: due_at(app, learner.id).await,
    };
    (learner, due)
}

/// An account with reminders at `hour` in `timezone` and an unfinished roadmap, made through
/// the gateway.
async fn reminded_account(api: &Api, hour: u32, timezone: &str) -> Account {
    let me = api.new_account().await;
    let token = me.token();
    let settings = json!({"reminder_enabled": true, "reminder_hour": hour, "timezone": timezone});
    let patched = api.patch("/api/users/me", &settings, token).await;
    assert_eq!(patched.status, 200, "{}", patched.text);
    let roadmap = json!({"goal": "backend", "level": "beginner", "hours_per_week": 5});
    let created = api.create_roadmap(&me, roadmap).await;
    assert_eq!(created.status, 201, "{}", created.text);
    me
}

/// The notifications at `path` (a list of the inbox) as `token`'s user, once there are any
/// (within 30 s: a fired schedule reaches the stack's worker through its queue).
async fn notifications_once_delivered(
    api: &Api,
    path: &str,
    token: Option<&str>,
) -> Vec<serde_json::Value> {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    loop {
        let page = api.get(path, token).await.json();
        let reminders = page["items"].as_array().unwrap().clone();
        if !reminders.is_empty() || std::time::Instant::now() >= deadline {
            return reminders;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
}
