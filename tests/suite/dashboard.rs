//! The dashboard (`GET /api/dashboard`): everything in one call.

use rota_tests::*;
use serde_json::json;

#[tokio::test]
async fn the_dashboard_brings_everything_in_one_call() {
    let (api, me) = Api::signed_up().await;
    let token = me.token();
    // No reminder may arrive while this test looks at the unread count.
    api.patch("/api/users/me", &json!({"reminder_enabled": false}), token)
        .await;
    api.new_post(&me, "dashboard post").await;
    api.create_roadmap(
        &me,
        json!({"goal": "data-science", "level": "beginner", "hours_per_week": 10}),
    )
    .await;
    let reply = api.get("/api/dashboard", token).await;
    assert_eq!(reply.status, 200, "{}", reply.text);
    let dash = reply.json();
    assert_eq!(
        dash["user"],
        json!({"id": me.id, "display_name": "Test User"})
    );
    assert_eq!(dash["streak_days"], 0);
    assert_eq!(dash["unread_notifications"], 0);
    assert_eq!(dash["roadmaps"].as_array().unwrap().len(), 1);
    let recent = dash["recent_posts"].as_array().unwrap();
    assert!(!recent.is_empty() && recent.len() <= 5);
    let ids: Vec<i64> = recent.iter().map(|p| p["id"].as_i64().unwrap()).collect();
    assert!(ids.windows(2).all(|w| w[0] > w[1]), "newest first");
    assert!(recent.iter().all(|p| p["liked_by_me"].is_boolean()));
    for field in ["total_users", "total_posts", "posts_last_24h"] {
        assert!(dash["community"][field].is_u64(), "{field}");
    }
    api.get("/api/dashboard", None).await.problem(401);
}
