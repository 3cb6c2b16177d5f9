//! Every benchmark case: the data each measured request needs is made first, through the other
//! functions, outside the measurement.

use std::path::Path;

use anyhow::{Context as _, bail};
use rota_local::lambda_service::LambdaService;
use serde_json::{Value, json};

use crate::client::{Client, Req};
use crate::measure::{Figures, measure, measure_event};

/// A registered, logged-in user.
struct User {
    token: String,
    email: String,
}

const PASSWORD: &str = "correct horse battery staple";

fn unique_email() -> String {
    format!("bench-{:016x}@example.com", rand::random::<u64>())
}

async fn register(client: &Client) -> anyhow::Result<User> {
    let email = unique_email();
    client
        .ok(Req::post(
            "/api/auth/register",
            json!({"email": email, "password": PASSWORD, "display_name": "Bench User"}),
        ))
        .await?;
    let login = client
        .ok(Req::post(
            "/api/auth/login",
            json!({"email": email, "password": PASSWORD}),
        ))
        .await?;
    Ok(User {
        token: str_field(&login, "access_token")?,
        email,
    })
}

fn str_field(v: &Value, name: &str) -> anyhow::Result<String> {
    v.get(name)
        .and_then(Value::as_str)
        .map(str::to_string)
        .with_context(|| format!("no {name} in {v}"))
}

fn id_field(v: &Value) -> anyhow::Result<String> {
    match v.get("id") {
        Some(Value::String(s)) => Ok(s.clone()),
        Some(Value::Number(n)) => Ok(n.to_string()),
        _ => bail!("no id in {v}"),
    }
}

/// A post body of a realistic size (about 1 KB of content).
fn post_body(i: usize) -> Value {
    json!({
        "title": format!("Week {i}: what I learned about ownership"),
        "content": "Borrowing finally clicked after rewriting the parser without clones. ".repeat(14),
    })
}

/// `count` fresh refresh tokens of `user` (one login each).
async fn refresh_tokens(client: &Client, user: &User, count: usize) -> anyhow::Result<Vec<String>> {
    let mut tokens = Vec::with_capacity(count);
    for _ in 0..count {
        let login = client
            .ok(Req::post(
                "/api/auth/login",
                json!({"email": user.email, "password": PASSWORD}),
            ))
            .await?;
        tokens.push(str_field(&login, "refresh_token")?);
    }
    Ok(tokens)
}

async fn new_post(client: &Client, user: &User, i: usize) -> anyhow::Result<String> {
    id_field(
        &client
            .ok(Req::post("/api/community/posts", post_body(i)).auth(&user.token))
            .await?,
    )
}

async fn new_roadmap(client: &Client, user: &User) -> anyhow::Result<Value> {
    client
        .ok(Req::post(
            "/api/roadmaps",
            json!({"goal": "backend", "level": "beginner", "hours_per_week": 10, "known_skills": ["git"]}),
        )
        .auth(&user.token))
        .await
}

/// Which functions to run (all when empty) and how many warm runs each.
#[derive(Debug, Clone)]
pub struct Plan {
    pub warm: usize,
    pub only: Vec<String>,
}

impl Plan {
    fn wants(&self, function: &str) -> bool {
        self.only.is_empty() || self.only.iter().any(|o| o == function)
    }
}

/// Runs every benchmark case against a running stack.
pub async fn run_all(
    lambda: &LambdaService,
    base_url: &str,
    repo_root: &Path,
    plan: &Plan,
) -> anyhow::Result<Vec<Figures>> {
    let client = Client::new(base_url)?;
    let n = plan.warm;
    let mut out = Vec::new();
    let main = register(&client).await?;
    let other = register(&client).await?;
    let post = new_post(&client, &main, 0).await?;
    for i in 0..5 {
        client
            .ok(Req::post(
                format!("/api/community/posts/{post}/comments"),
                json!({"content": format!("Comment {i}: thanks, this helped.")}),
            )
            .auth(&other.token))
            .await?;
    }
    for i in 0..20 {
        let p = new_post(&client, &other, i).await?;
        if i % 2 == 0 {
            client
                .ok(
                    Req::post(format!("/api/community/posts/{p}/like"), json!({}))
                        .auth(&main.token),
                )
                .await?;
        }
    }
    let roadmap = new_roadmap(&client, &main).await?;
    let roadmap_id = id_field(&roadmap)?;
    let step_id = roadmap
        .pointer("/steps/0/id")
        .or_else(|| roadmap.pointer("/phases/0/steps/0/id"))
        .map(|v| match v {
            Value::String(s) => s.clone(),
            other => other.to_string(),
        })
        .unwrap_or_else(|| "1".into());

    macro_rules! case {
        ($function:literal, $case:literal, $reqs:expr) => {
            if plan.wants($function) {
                tracing::info!("benchmarking {}", $function);
                let reqs: Vec<Req> = $reqs;
                out.push(measure(lambda, &client, $function, $case, reqs).await?);
            }
        };
    }
    let times = |f: &dyn Fn(usize) -> Req| (0..=n).map(f).collect::<Vec<_>>();

    case!(
        "HealthLiveFunction",
        "GET /health/live",
        times(&|_| Req::get("/health/live"))
    );
    case!(
        "HealthReadyFunction",
        "GET /health/ready (DynamoDB + Redis checks)",
        times(&|_| Req::get("/health/ready"))
    );
    case!(
        "OpenApiFunction",
        "GET /openapi.json",
        times(&|_| Req::get("/openapi.json"))
    );
    case!(
        "NotFoundFunction",
        "unknown route → 404",
        times(&|_| Req::get("/api/nothing-here"))
    );
    case!(
        "AuthRegisterFunction",
        "register a new account (argon2id hash)",
        times(&|_| Req::post(
            "/api/auth/register",
            json!({"email": unique_email(), "password": PASSWORD, "display_name": "Bench"})
        ))
    );
    case!(
        "AuthLoginFunction",
        "log in, right password (argon2id verify)",
        times(&|_| Req::post(
            "/api/auth/login",
            json!({"email": main.email, "password": PASSWORD})
        ))
    );
    // Each refresh/logout needs its own live refresh token: one login per request.
    if plan.wants("AuthRefreshFunction") {
        let tokens = refresh_tokens(&client, &other, n + 1).await?;
        case!(
            "AuthRefreshFunction",
            "rotate a refresh token",
            tokens
                .iter()
                .map(|r| Req::post("/api/auth/refresh", json!({"refresh_token": r})))
                .collect()
        );
    }
    if plan.wants("AuthLogoutFunction") {
        let tokens = refresh_tokens(&client, &other, n + 1).await?;
        case!(
            "AuthLogoutFunction",
            "log out (revoke a refresh token family)",
            tokens
                .iter()
                .map(|r| Req::post("/api/auth/logout", json!({"refresh_token": r})))
                .collect()
        );
    }
    case!(
        "UsersMeGetFunction",
        "GET /api/users/me",
        times(&|_| Req::get("/api/users/me").auth(&main.token))
    );
    case!(
        "UsersMePatchFunction",
        "PATCH /api/users/me (name, reminders)",
        times(&|i| {
            Req::patch(
            "/api/users/me",
            json!({"display_name": format!("Bench {i}"), "reminder_enabled": true, "reminder_hour": 20, "timezone": "Europe/Istanbul"})
        )
        .auth(&main.token)
        })
    );
    case!(
        "CommunityPostsListFunction",
        "GET /api/community/posts (20 newest, liked_by_me)",
        times(&|_| Req::get("/api/community/posts?limit=20").auth(&main.token))
    );
    case!(
        "CommunityPostsCreateFunction",
        "create a post (~1 KB)",
        times(&|i| Req::post("/api/community/posts", post_body(i)).auth(&main.token))
    );
    case!(
        "CommunityPostsGetFunction",
        "GET one post",
        times(&|_| Req::get(format!("/api/community/posts/{post}")).auth(&main.token))
    );
    case!(
        "CommunityPostsPatchFunction",
        "edit own post's title",
        times(&|i| Req::patch(
            format!("/api/community/posts/{post}"),
            json!({"title": format!("Edited title {i}")})
        )
        .auth(&main.token))
    );
    if plan.wants("CommunityPostsLikeFunction")
        || plan.wants("CommunityPostsUnlikeFunction")
        || plan.wants("CommunityPostsDeleteFunction")
    {
        let mut posts = Vec::new();
        for i in 0..=n {
            posts.push(new_post(&client, &other, i).await?);
        }
        case!(
            "CommunityPostsLikeFunction",
            "like a post (like item + counter, one transaction)",
            posts
                .iter()
                .map(
                    |p| Req::post(format!("/api/community/posts/{p}/like"), json!({}))
                        .auth(&main.token)
                )
                .collect()
        );
        case!(
            "CommunityPostsUnlikeFunction",
            "unlike a liked post",
            posts
                .iter()
                .map(|p| Req::delete(format!("/api/community/posts/{p}/like")).auth(&main.token))
                .collect()
        );
        case!(
            "CommunityPostsDeleteFunction",
            "delete own post",
            posts
                .iter()
                .map(|p| Req::delete(format!("/api/community/posts/{p}")).auth(&other.token))
                .collect()
        );
    }
    case!(
        "CommunityCommentsListFunction",
        "GET a post's comments",
        times(&|_| Req::get(format!("/api/community/posts/{post}/comments")).auth(&main.token))
    );
    case!(
        "CommunityCommentsCreateFunction",
        "comment on a post (comment + counter, one transaction)",
        times(&|i| Req::post(
            format!("/api/community/posts/{post}/comments"),
            json!({"content": format!("Benchmark comment {i}")})
        )
        .auth(&main.token))
    );
    if plan.wants("CommunityCommentsDeleteFunction") {
        let mut comments = Vec::new();
        for i in 0..=n {
            let c = client
                .ok(Req::post(
                    format!("/api/community/posts/{post}/comments"),
                    json!({"content": format!("to delete {i}")}),
                )
                .auth(&other.token))
                .await?;
            comments.push(id_field(&c)?);
        }
        case!(
            "CommunityCommentsDeleteFunction",
            "delete own comment",
            comments
                .iter()
                .map(|c| Req::delete(format!("/api/community/comments/{c}")).auth(&other.token))
                .collect()
        );
    }
    case!(
        "CommunityStatsFunction",
        "GET /api/community/stats (cached in Redis)",
        times(&|_| Req::get("/api/community/stats").auth(&main.token))
    );
    case!(
        "DashboardFunction",
        "GET /api/dashboard",
        times(&|_| Req::get("/api/dashboard").auth(&main.token))
    );
    case!(
        "NotificationsListFunction",
        "GET /api/notifications",
        times(&|_| Req::get("/api/notifications").auth(&main.token))
    );
    case!(
        "NotificationsReadFunction",
        "mark a notification read (unknown id → 404)",
        times(&|_| Req::post("/api/notifications/1/read", json!({})).auth(&main.token))
    );
    case!(
        "NotificationsReadAllFunction",
        "mark all read",
        times(&|_| Req::post("/api/notifications/read-all", json!({})).auth(&main.token))
    );
    case!(
        "RoadmapsCatalogFunction",
        "GET /api/roadmaps/catalog",
        times(&|_| Req::get("/api/roadmaps/catalog").auth(&main.token))
    );
    case!(
        "RoadmapsCreateFunction",
        "generate and store a roadmap",
        times(&|_| {
            Req::post(
            "/api/roadmaps",
            json!({"goal": "backend", "level": "beginner", "hours_per_week": 10, "known_skills": ["git"]})
        )
        .auth(&other.token)
        })
    );
    case!(
        "RoadmapsListFunction",
        "GET /api/roadmaps",
        times(&|_| Req::get("/api/roadmaps").auth(&main.token))
    );
    case!(
        "RoadmapsGetFunction",
        "GET one roadmap (~15 KB item)",
        times(&|_| Req::get(format!("/api/roadmaps/{roadmap_id}")).auth(&main.token))
    );
    case!(
        "RoadmapsStepPatchFunction",
        "tick a step (one conditional update)",
        times(&|i| Req::patch(
            format!("/api/roadmaps/{roadmap_id}/steps/{step_id}"),
            json!({"done": i % 2 == 0})
        )
        .auth(&main.token))
    );
    if plan.wants("RoadmapsDeleteFunction") {
        let mut ids = Vec::new();
        for _ in 0..=n {
            ids.push(id_field(&new_roadmap(&client, &other).await?)?);
        }
        case!(
            "RoadmapsDeleteFunction",
            "delete a roadmap",
            ids.iter()
                .map(|r| Req::delete(format!("/api/roadmaps/{r}")).auth(&other.token))
                .collect()
        );
    }
    for (function, file, case) in [
        (
            "RemindersSchedulerFunction",
            "reminders-scheduler.json",
            "hourly run, nobody due at the event's hour",
        ),
        (
            "RemindersWorkerFunction",
            "reminders-worker.json",
            "one SQS message, its user unknown",
        ),
    ] {
        if plan.wants(function) {
            tracing::info!("benchmarking {function}");
            let path = repo_root.join("events").join(file);
            let event: Value = serde_json::from_str(
                &std::fs::read_to_string(&path)
                    .with_context(|| format!("cannot read {}", path.display()))?,
            )?;
            out.push(measure_event(lambda, function, case, &event, n).await?);
        }
    }
    Ok(out)
}
