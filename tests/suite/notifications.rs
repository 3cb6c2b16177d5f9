//! Notifications (`/api/notifications`), in process: pages, read one, read all, and an unread
//! count that stays exact. (Reminders, which deliver them: `reminders`.)

use rota_store::notifications::{Delivery, Notifications};
use rota_tests::*;
use serde_json::json;

/// Delivers a daily reminder titled `t{n}` to `user` (with a test key of its own): its id.
async fn deliver_a_reminder(store: &Notifications<'_>, user: i64, n: i32) -> i64 {
    let notification = new_notification("daily_reminder", format!("t{n}"));
    let key = format!("TEST#{}", notification.id);
    let delivered = store.deliver(user, &notification, &key, 60, vec![]);
    assert_eq!(delivered.await.unwrap(), Delivery::Delivered);
    notification.id
}

/// `GET /api/notifications?{query}` as `token`, through the handler.
async fn notifications_page(app: &TestApp, query: &str, token: &str) -> HttpReply {
    let mut event = with_token(sample_event("notifications-list"), token);
    // lambda_http reads the query from rawQueryString, as API Gateway sends both.
    event["rawQueryString"] = json!(query);
    event["queryStringParameters"] = serde_json::Value::Object(
        query
            .split('&')
            .filter(|kv| !kv.is_empty())
            .map(|kv| {
                let (k, v) = kv.split_once('=').unwrap();
                (k.to_owned(), json!(v))
            })
            .collect(),
    );
    call(
        app,
        &rota_api::handlers::notifications::ListNotifications,
        &event,
    )
    .await
}

#[tokio::test]
async fn notifications_page_read_one_and_read_all_keep_the_unread_count_exact() {
    use rota_api::handlers::notifications::{ReadAllNotifications, ReadNotification};
    let app = app().await;
    let me = learner(&app, false).await;
    let other = learner(&app, false).await;
    let store = Notifications::new(app.db(), app.table());
    let mut ids = Vec::new();
    for i in 0..3 {
        ids.push(deliver_a_reminder(&store, me.id, i).await);
    }
    let first = notifications_page(&app, "limit=2", &me.token).await.json();
    assert_eq!(first["items"].as_array().unwrap().len(), 2);
    assert_eq!(first["items"][0]["id"], ids[2], "newest first");
    let cursor = first["next_cursor"].as_str().unwrap();
    let rest = notifications_page(&app, &format!("limit=2&cursor={cursor}"), &me.token)
        .await
        .json();
    assert_eq!(rest["items"][0]["id"], ids[0]);
    assert!(rest["next_cursor"].is_null());
    // A cursor from the unread-only list is not valid for the full list.
    let unread_page = notifications_page(&app, "unread_only=true&limit=1", &me.token)
        .await
        .json();
    let foreign = unread_page["next_cursor"].as_str().unwrap();
    notifications_page(&app, &format!("cursor={foreign}"), &me.token)
        .await
        .problem(400);
    notifications_page(&app, "unread_only=maybe", &me.token)
        .await
        .problem(422);

    let read = async |id: i64, token: &str| {
        let mut event = with_token(sample_event("notifications-read"), token);
        event["pathParameters"]["id"] = json!(id.to_string());
        call(&app, &ReadNotification, &event).await
    };
    assert_eq!(read(ids[0], &me.token).await.status, 204);
    assert_eq!(read(ids[0], &me.token).await.status, 204, "idempotent");
    assert_eq!(store.unread(me.id).await.unwrap(), 2);
    read(ids[1], &other.token).await.problem(404);
    let unread = notifications_page(&app, "unread_only=true", &me.token)
        .await
        .json();
    assert_eq!(unread["items"].as_array().unwrap().len(), 2);

    let all = with_token(sample_event("notifications-read-all"), &me.token);
    assert_eq!(call(&app, &ReadAllNotifications, &all).await.status, 204);
    assert_eq!(store.unread(me.id).await.unwrap(), 0);
    let unread = notifications_page(&app, "unread_only=true", &me.token)
        .await
        .json();
    assert!(unread["items"].as_array().unwrap().is_empty());
    let everything = notifications_page(&app, "", &me.token).await.json();
    assert!(
        everything["items"]
            .as_array()
            .unwrap()
            .iter()
            .all(|n| n["read_at"].is_string())
    );
}

/// Read-all under a lagging replica: its eventually consistent reads of the unread page would
/// list notifications it has just marked read, and every transaction over them would fail.
#[tokio::test]
async fn read_all_ends_with_every_notification_read_when_reads_lag() {
    use futures::StreamExt;
    use rota_api::handlers::notifications::ReadAllNotifications;
    let (mut app, tamper) = tampered_app().await;
    // The deployed budget: two transactions of 99 and 31 items fit in it.
    app.set_config(deployed_budget);
    let (user, token) = member(&app).await;
    let store = Notifications::new(app.db(), app.table());
    // More than one transaction's worth (99).
    futures::stream::iter(0..130)
        .map(|i| {
            let store = &store;
            async move { deliver_a_reminder(store, user, i).await }
        })
        .buffer_unordered(16)
        .collect::<Vec<_>>()
        .await;
    // The replica stays behind for longer than the request may take.
    tamper.stale_queries("NOTIF#", std::time::Duration::from_secs(30));
    let all = with_token(sample_event("notifications-read-all"), &token);
    let reply = tokio::time::timeout(
        std::time::Duration::from_secs(10),
        Box::pin(call(&app, &ReadAllNotifications, &all)),
    )
    .await
    .expect("read-all ends");
    assert_eq!(reply.status, 204, "{}", reply.text);
    tamper.clear();
    assert_eq!(store.unread(user).await.unwrap(), 0);
    let (unread, _) = store.page(user, true, None, 100).await.unwrap();
    assert!(unread.is_empty(), "{} still unread", unread.len());
}
