//! The grant test: every function's grants against the calls it makes.
//!
//! A stack of its own (IAM enforced, as always) runs a tour that calls every function on
//! every path that reaches DynamoDB, SQS or SSM: the happy paths, a refresh token used twice
//! (the family revoked), an Idempotency-Key claim released after a refused request, the
//! reminder pipeline (schedule → queue → worker, its email, the email's one-click unsubscribe,
//! a bounce through the SES events queue). Then the emulator's account of what each
//! role was allowed and refused is compared with the template's roles as the SAM transform
//! writes them (`rota_tests::grants::findings`): a refused call is a missing grant, a
//! statement, action, resource or `dynamodb:Attributes` entry nobody used is an over-grant.
//!
//! The stack runs without a reachable cache: what the cache would answer (stats, the first
//! feed page) then comes from DynamoDB in every function that can read it, which is what a
//! cold or failed cache does, so each of those grants is exercised. The stack's create limits
//! are one per window, to reach the release of a claim after a refused request.

use std::time::Duration;

use serde_json::{Value, json};

use rota_tests::*;

const ROADMAP: &str = r#"{"goal":"backend","level":"beginner","hours_per_week":6}"#;

fn ok(reply: &HttpReply, status: u16, what: &str) {
    assert_eq!(reply.status, status, "{what}: {}", reply.text);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn every_grant_is_used_and_every_call_is_granted() {
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let no_cache = format!("redis://{}", closed.local_addr().unwrap());
    drop(closed);
    let stack = PrivateStack::start(|c| {
        c.redis_url = Some(no_cache);
        c.function_env = [
            // One create per window, so the second (with an Idempotency-Key) is refused inside
            // the claim and the claim is released.
            ("POST_CREATE_LIMIT", "1/60"),
            ("COMMENT_CREATE_LIMIT", "1/60"),
            ("ROADMAP_CREATE_LIMIT", "1/3600"),
            // Grants, not latency, are measured here: stats computed without a cache take a
            // few dozen queries, which a busy machine may not answer within the usual 1 s.
            ("DB_RETRY_BUDGET_MS", "10000"),
            ("DB_ATTEMPT_TIMEOUT_MS", "3000"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    })
    .await;
    tour(&stack).await;
    reminders(&stack).await;

    let usage = stack.iam_usage().await;
    // What each role used, for whoever writes a grant: ROTA_GRANTS_USAGE=<file>.
    if let Ok(path) = std::env::var("ROTA_GRANTS_USAGE") {
        std::fs::write(&path, serde_json::to_string_pretty(&usage).unwrap()).unwrap();
    }
    // Resolved as the stack resolved it (its name is in its secret's ARN).
    let template = rota_local::template::Template::load(repo_root().join("template.yaml"))
        .unwrap()
        .with_stack_name(&stack.running.stack_name);
    let roles = rota_local::iam::for_stack(
        &rota_local::iam::expanded_roles(&repo_root(), &template)
            .await
            .expect("the template's roles"),
        &stack.running.stack_name,
    );
    let found = grants::findings(&roles, &usage);
    stack.stop().await;
    assert!(
        found.is_empty(),
        "grants and calls differ ({}):\n{}",
        found.len(),
        found.join("\n")
    );
}

/// Every HTTP function, on every path that calls AWS.
/// Deletes the like shards of `post` (as the emulator's root, not a function's role).
async fn strip_like_shards(stack: &PrivateStack, post: i64) {
    use aws_sdk_dynamodb::types::AttributeValue;
    let db = aws_sdk_dynamodb::Client::new(
        &rota_local::stack::sdk_config(&stack.running.aws_endpoint).await,
    );
    for shard in 0..rota_store::posts::LIKE_SHARDS {
        let (pk, sk) = rota_store::posts::like_shard_key(post, shard);
        db.delete_item()
            .table_name("RotaTable")
            .key("PK", AttributeValue::S(pk))
            .key("SK", AttributeValue::S(sk))
            .send()
            .await
            .expect("a like shard deleted");
    }
}

async fn tour(stack: &PrivateStack) {
    let api = stack.api();
    ok(
        &api.get("/health/ready", None).await,
        503,
        "readiness without a cache",
    );
    ok(&api.get("/health/live", None).await, 200, "liveness");
    ok(&api.get("/openapi.json", None).await, 200, "the document");
    ok(&api.get("/docs", None).await, 200, "the reference");
    ok(&api.get("/nowhere", None).await, 404, "the default route");

    let ada = api.new_account().await;
    let bo = api.new_account().await;
    let a = ada.token();
    let b = bo.token();
    ok(&api.login(&ada.email, &ada.password).await, 200, "login");
    // A taken email: register reads the session it would have made (is it its own?).
    ok(
        &api.register(&ada.email, "another password", "Ada").await,
        409,
        "register a taken email",
    );

    // Refresh: a rotation, then the old token again (reuse: the family is revoked).
    let rotated = api.refresh(&ada.refresh_token).await;
    ok(&rotated, 200, "refresh");
    let reused = api.refresh(&ada.refresh_token).await;
    ok(&reused, 401, "a reused refresh token");
    let logout = api.logout(&bo.refresh_token).await;
    ok(&logout, 204, "logout");

    ok(&api.get("/api/users/me", a).await, 200, "me");
    let hour = chrono::Timelike::hour(&chrono::Utc::now());
    let patched = api
        .patch(
            "/api/users/me",
            &json!({"display_name": "Ada L", "reminder_enabled": true, "reminder_hour": hour, "timezone": "Europe/Istanbul", "locale": "tr"}),
            a,
        )
        .await;
    ok(&patched, 200, "me, patched");
    ok(
        &api.patch("/api/users/me", &json!({}), a).await,
        200,
        "an empty patch",
    );
    ok(
        &api.get("/api/roadmaps/catalog", a).await,
        200,
        "the catalog",
    );

    // Posts: one each, the second refused by the limit inside its claim (released).
    let write_post = async |title: &str, content: &str, key: &str| {
        let body = json!({"title": title, "content": content});
        api.post_idempotent(POSTS, &body, a, key).await
    };
    let post = write_post("Day 1", "Started.", "tour-post-1").await;
    ok(&post, 201, "a post");
    let post_id = post.json()["id"].as_i64().unwrap();
    let refused = write_post("Day 2", "More.", "tour-post-2").await;
    ok(&refused, 429, "a second post within the limit's window");
    let bos_post = api.new_post(&bo, "Bo's").await;
    let bos_id = bos_post["id"].as_i64().unwrap();

    let path = format!("/api/community/posts/{post_id}");
    ok(
        &api.post(&format!("{path}/like"), &json!({}), b).await,
        200,
        "like",
    );
    ok(&api.delete(&format!("{path}/like"), b).await, 200, "unlike");
    ok(
        &api.post(&format!("{path}/like"), &json!({}), b).await,
        200,
        "like again",
    );
    ok(&api.get(&path, b).await, 200, "a post");
    // A post written before the like shards (its shards removed here, as the old layout had
    // none): its first unlike gives it shards.
    strip_like_shards(stack, bos_id).await;
    ok(
        &api.delete(&format!("/api/community/posts/{bos_id}/like"), a)
            .await,
        200,
        "an unlike of a post written before the like shards",
    );
    ok(
        &api.patch(
            &path,
            &json!({"title": "Day 1, edited", "content": "Started, then more."}),
            a,
        )
        .await,
        200,
        "an edit",
    );
    for sort in ["new", "top"] {
        let page = api
            .get(&format!("/api/community/posts?sort={sort}&limit=5"), b)
            .await;
        ok(&page, 200, "a feed page");
        if let Some(cursor) = page.json()["next_cursor"].as_str() {
            let next = api
                .get(
                    &format!("/api/community/posts?sort={sort}&limit=5&cursor={cursor}"),
                    b,
                )
                .await;
            ok(&next, 200, "a later page");
        }
    }

    // Comments: one, then one refused inside its claim, listed, deleted.
    let comments = format!("{path}/comments");
    let comment = async |content: &str, key: &str| {
        let body = json!({ "content": content });
        api.post_idempotent(&comments, &body, b, key).await
    };
    let first = comment("Nice!", "tour-comment-1").await;
    ok(&first, 201, "a comment");
    let refused = comment("Again", "tour-comment-2").await;
    ok(&refused, 429, "a second comment within the limit's window");
    ok(&api.get(&comments, b).await, 200, "the comments");
    let comment_id = first.json()["id"].as_i64().unwrap();
    ok(
        &api.delete(&format!("/api/community/comments/{comment_id}"), b)
            .await,
        204,
        "a comment deleted",
    );

    ok(&api.get("/api/community/stats", b).await, 200, "stats");

    // Roadmaps: one, one refused inside its claim, read, a step done, listed.
    let roadmap_body: Value = serde_json::from_str(ROADMAP).unwrap();
    let ask_for_roadmap = async |key: &str| {
        api.post_idempotent("/api/roadmaps", &roadmap_body, a, key)
            .await
    };
    let roadmap = ask_for_roadmap("tour-roadmap-1").await;
    ok(&roadmap, 201, "a roadmap");
    let refused = ask_for_roadmap("tour-roadmap-2").await;
    ok(&refused, 429, "a second roadmap within the limit's window");
    let roadmap_id = roadmap.json()["id"].as_i64().unwrap();
    let roadmap_path = format!("/api/roadmaps/{roadmap_id}");
    ok(&api.get(&roadmap_path, a).await, 200, "a roadmap");
    ok(
        &api.patch(
            &format!("{roadmap_path}/steps/1"),
            &json!({"done": true}),
            a,
        )
        .await,
        200,
        "a step done",
    );
    ok(&api.get("/api/roadmaps", a).await, 200, "the roadmaps");
    ok(&api.get("/api/dashboard", a).await, 200, "the dashboard");
    let bos_roadmap = api
        .create_roadmap(&bo, serde_json::from_str(ROADMAP).unwrap())
        .await;
    ok(&bos_roadmap, 201, "Bo's roadmap");
    let bos_roadmap = bos_roadmap.json()["id"].as_i64().unwrap();
    ok(
        &api.delete(&format!("/api/roadmaps/{bos_roadmap}"), b).await,
        204,
        "a roadmap deleted",
    );

    ok(
        &api.delete(&format!("/api/community/posts/{bos_id}"), b)
            .await,
        204,
        "a post deleted",
    );
}

/// The reminder pipeline: Ada is due now; the schedule fires, the worker reminds her through
/// the queue, and she reads her notifications.
async fn reminders(stack: &PrivateStack) {
    let api = stack.api();
    let ada = api.new_account().await;
    let token = ada.token();
    let hour = chrono::Timelike::hour(&chrono::Utc::now());
    ok(
        &api.patch(
            "/api/users/me",
            &json!({"reminder_enabled": true, "reminder_hour": hour, "timezone": "UTC"}),
            token,
        )
        .await,
        200,
        "reminders on",
    );
    ok(
        &api.create_roadmap(&ada, serde_json::from_str(ROADMAP).unwrap())
            .await,
        201,
        "a roadmap to be reminded of",
    );
    // Settings schedule the next occurrence (tomorrow's): move it to this hour, as if a day
    // had passed (as tests/suite/reminders does).
    let now_minute = rota_domain::reminder_hours::epoch_minute(chrono::Utc::now());
    let db = aws_sdk_dynamodb::Client::new(
        &rota_local::stack::sdk_config(&stack.running.aws_endpoint).await,
    );
    set_due_minute(&db, ada.id, now_minute).await;
    let template = rota_local::template::Template::load(repo_root().join("template.yaml")).unwrap();
    let target =
        rota_local::events::schedule::find_target(&template, "RemindersSchedulerFunction", None)
            .unwrap();
    // The scheduler reads an eventually consistent index: fire until it has seen her.
    let mut reminded: Vec<Value> = Vec::new();
    for _ in 0..30 {
        rota_local::events::schedule::fire(&stack.running.lambda, &target, chrono::Utc::now())
            .await
            .expect("the scheduler runs");
        for _ in 0..25 {
            reminded = api
                .get("/api/notifications?unread_only=true", token)
                .await
                .json()["items"]
                .as_array()
                .cloned()
                .unwrap_or_default();
            if !reminded.is_empty() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        if !reminded.is_empty() {
            break;
        }
    }
    assert_eq!(reminded.len(), 1, "one reminder arrives");
    let id = reminded[0]["id"].as_i64().unwrap();
    ok(
        &api.post("/api/notifications/read-all", &json!({}), token)
            .await,
        204,
        "all read",
    );
    ok(
        &api.post(&format!("/api/notifications/{id}/read"), &json!({}), token)
            .await,
        204,
        "one read again",
    );
    email(stack, &ada).await;
}

/// The reminder's email: its one-click unsubscribe (the link read from the mail file), the
/// profile setting that turns email back on, and a bounce through the SES events queue.
async fn email(stack: &PrivateStack, ada: &Account) {
    let api = stack.api();
    let mail = rota_local::stack::mail_dir(stack.stack().logs_dir.as_deref().unwrap());
    let mut raw = String::new();
    for _ in 0..50 {
        if let Some(file) = std::fs::read_dir(&mail)
            .ok()
            .and_then(|mut d| d.find_map(|e| e.ok().map(|e| e.path())))
            .filter(|p| p.extension().is_some_and(|x| x == "eml"))
        {
            raw = std::fs::read_to_string(file).unwrap();
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let token = raw
        .lines()
        .find_map(|l| l.strip_prefix("List-Unsubscribe: <"))
        .and_then(|l| l.split_once("?token="))
        .map(|(_, t)| t.trim_end_matches('>').to_owned())
        .expect("the reminder email with its unsubscribe link");
    ok(
        &api.post(
            &format!("/api/reminders/unsubscribe?token={token}"),
            &json!({}),
            None,
        )
        .await,
        204,
        "one-click unsubscribe",
    );
    ok(
        &api.patch(
            "/api/users/me",
            &json!({"email_reminders": true}),
            ada.token(),
        )
        .await,
        200,
        "reminder emails back on",
    );
    let sdk = rota_local::stack::sdk_config(&stack.running.aws_endpoint).await;
    let sqs = aws_sdk_sqs::Client::new(&sdk);
    let queue = sqs
        .get_queue_url()
        .queue_name("MailEventsQueue")
        .send()
        .await
        .unwrap()
        .queue_url
        .unwrap();
    let bounced = "bounced@example.com";
    let bounce = json!({"eventType": "Bounce", "bounce": {"bounceType": "Permanent",
        "bouncedRecipients": [{"emailAddress": bounced}]}, "mail": {"destination": [bounced]}});
    sqs.send_message()
        .queue_url(&queue)
        .message_body(bounce.to_string())
        .send()
        .await
        .unwrap();
    let db = aws_sdk_dynamodb::Client::new(&sdk);
    let mail = rota_store::mail::Mail::new(&db, "RotaTable");
    for _ in 0..100 {
        if mail.is_suppressed(bounced).await.unwrap() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("the bounce was not recorded");
}
