//! The benchmark harness (`rota-bench`): every function binary run the way Lambda runs it,
//! through the Runtime API of [`rota_local::runtime`], behind the local gateway.
//!
//! For each function: a cold start (its instances recycled first, so the first request starts a
//! new process), then `warm` invocations on the same instance. Per function it reports
//! - the binary size;
//! - the init duration (process start → first poll for an event, Lambda's `Init Duration`);
//! - CPU time per warm invocation: the instance's on-CPU time (all threads, from
//!   `/proc/<pid>/task/*/schedstat`) before and after each request, so gateway and emulator
//!   work is not counted;
//! - the invocation duration (Lambda's `Duration`), which includes waiting for DynamoDB
//!   (the local emulator, not AWS) and Redis;
//! - peak RSS (`VmHWM`) of the instance after the warm runs (Lambda's `Max Memory Used`);
//! - in diagnostic mode (`ROTA_DIAGNOSTICS=1`, set for every instance), what the last warm
//!   request cost: DynamoDB calls, sequential round trips, Redis calls, capacity units.
//!
//! Each measured request makes its own data first (a post to like, a comment to delete, a
//! refresh token to rotate) through the other functions, outside the measurement.

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use serde::Serialize;
use serde_json::{Value, json};

use rota_local::runtime::LambdaService;

/// One HTTP request of a benchmark.
#[derive(Debug, Clone)]
pub struct Req {
    pub method: reqwest::Method,
    pub path: String,
    pub body: Option<Value>,
    pub token: Option<String>,
}

impl Req {
    fn new(method: reqwest::Method, path: impl Into<String>) -> Self {
        Self {
            method,
            path: path.into(),
            body: None,
            token: None,
        }
    }
    fn get(path: impl Into<String>) -> Self {
        Self::new(reqwest::Method::GET, path)
    }
    fn post(path: impl Into<String>, body: Value) -> Self {
        Self::new(reqwest::Method::POST, path).body(body)
    }
    fn patch(path: impl Into<String>, body: Value) -> Self {
        Self::new(reqwest::Method::PATCH, path).body(body)
    }
    fn delete(path: impl Into<String>) -> Self {
        Self::new(reqwest::Method::DELETE, path)
    }
    fn body(mut self, body: Value) -> Self {
        self.body = Some(body);
        self
    }
    fn auth(mut self, token: &str) -> Self {
        self.token = Some(token.to_string());
        self
    }
}

/// A response, read whole.
#[derive(Debug)]
pub struct Reply {
    pub status: u16,
    pub json: Value,
    pub diagnostics: Option<Value>,
}

/// Talks to the local gateway from its own loopback address (per-IP limits stay apart).
pub struct Client {
    http: reqwest::Client,
    base: String,
}

impl Client {
    pub fn new(base: &str) -> anyhow::Result<Self> {
        let ip = IpAddr::V4(Ipv4Addr::new(
            127,
            rand::random_range(1..=254),
            rand::random(),
            rand::random_range(1..=254),
        ));
        Ok(Self {
            http: reqwest::Client::builder()
                .local_address(ip)
                .timeout(Duration::from_secs(60))
                .build()?,
            base: base.trim_end_matches('/').to_string(),
        })
    }

    /// Sends a request; API Gateway's own throttling answer (429 before the function runs) is
    /// waited out and retried, so every reply comes from the function.
    pub async fn send(&self, req: &Req) -> anyhow::Result<Reply> {
        for _ in 0..200 {
            let mut b = self
                .http
                .request(req.method.clone(), format!("{}{}", self.base, req.path));
            if let Some(t) = &req.token {
                b = b.bearer_auth(t);
            }
            if let Some(body) = &req.body {
                b = b.json(body);
            }
            let res = b.send().await?;
            let status = res.status().as_u16();
            let diagnostics = res
                .headers()
                .get("x-rota-diagnostics")
                .and_then(|v| v.to_str().ok())
                .and_then(|v| serde_json::from_str(v).ok());
            let text = res.text().await?;
            let json: Value = serde_json::from_str(&text).unwrap_or(Value::String(text));
            if status == 429 && json.get("message").is_some() {
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
            return Ok(Reply {
                status,
                json,
                diagnostics,
            });
        }
        bail!(
            "{} {}: throttled by the gateway 200 times",
            req.method,
            req.path
        )
    }

    /// Sends a request that must succeed (set-up steps).
    async fn ok(&self, req: Req) -> anyhow::Result<Value> {
        let r = self.send(&req).await?;
        if !(200..300).contains(&r.status) {
            bail!("{} {} → {}: {}", req.method, req.path, r.status, r.json);
        }
        Ok(r.json)
    }
}

/// On-CPU time of every thread of a process, from the scheduler's statistics.
pub fn cpu_time(pid: u32) -> Option<Duration> {
    let tasks = std::fs::read_dir(format!("/proc/{pid}/task")).ok()?;
    let mut total = 0u64;
    for t in tasks.flatten() {
        let stat = std::fs::read_to_string(t.path().join("schedstat")).unwrap_or_default();
        total += stat
            .split_whitespace()
            .next()
            .and_then(|v| v.parse::<u64>().ok())
            .unwrap_or(0);
    }
    Some(Duration::from_nanos(total))
}

/// Peak resident memory of a process (`VmHWM`), in KiB.
pub fn peak_rss_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
}

/// The figures of one function.
#[derive(Debug, Clone, Serialize)]
pub struct Figures {
    pub function: String,
    pub binary: String,
    /// What the measured request does.
    pub case: String,
    pub binary_bytes: u64,
    pub init_ms: Option<f64>,
    /// The cold request's duration (after init).
    pub cold_duration_ms: f64,
    pub warm_runs: usize,
    pub warm_duration_ms_p50: f64,
    pub warm_duration_ms_p95: f64,
    pub warm_cpu_ms_p50: f64,
    pub warm_cpu_ms_mean: f64,
    pub peak_rss_mib: Option<f64>,
    /// Status codes seen on the measured requests.
    pub statuses: BTreeMap<u16, usize>,
    /// What the last warm request cost (diagnostic mode).
    pub diagnostics: Option<Value>,
}

fn percentile(values: &[f64], p: f64) -> f64 {
    if values.is_empty() {
        return 0.0;
    }
    let mut v = values.to_vec();
    v.sort_by(f64::total_cmp);
    let rank = ((p / 100.0) * v.len() as f64).ceil() as usize;
    v[rank.clamp(1, v.len()) - 1]
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// What one function's runs produced: the first invocation cold, the rest warm.
struct Samples {
    function: String,
    statuses: BTreeMap<u16, usize>,
    durations: Vec<f64>,
    cpu: Vec<f64>,
    init_ms: Option<f64>,
    cold_duration_ms: f64,
    diagnostics: Option<Value>,
    pid: Option<u32>,
}

impl Samples {
    /// Recycles the function's instances so the first invocation starts cold.
    async fn start(lambda: &LambdaService, function: &str) -> Self {
        lambda.recycle(function).await;
        Self {
            function: function.to_string(),
            statuses: BTreeMap::new(),
            durations: Vec::new(),
            cpu: Vec::new(),
            init_ms: None,
            cold_duration_ms: 0.0,
            diagnostics: None,
            pid: None,
        }
    }

    /// The instance's CPU time so far (call before an invocation).
    fn cpu_before(&self) -> Option<Duration> {
        self.pid.and_then(cpu_time)
    }

    /// Records one invocation from the function's REPORT.
    fn record(
        &mut self,
        lambda: &LambdaService,
        status: u16,
        cpu_before: Option<Duration>,
        diagnostics: Option<Value>,
    ) -> anyhow::Result<()> {
        *self.statuses.entry(status).or_default() += 1;
        let report = lambda
            .last_report(&self.function)
            .with_context(|| format!("{} reported no invocation", self.function))?;
        self.pid = report.pid;
        if self.statuses.values().sum::<usize>() == 1 {
            self.init_ms = report.init_duration.map(ms);
            self.cold_duration_ms = ms(report.duration);
            return Ok(());
        }
        self.durations.push(ms(report.duration));
        if let (Some(b), Some(a)) = (cpu_before, self.pid.and_then(cpu_time)) {
            self.cpu.push(ms(a.saturating_sub(b)));
        }
        self.diagnostics = diagnostics.or(self.diagnostics.take());
        Ok(())
    }

    fn figures(self, lambda: &LambdaService, case: &str) -> anyhow::Result<Figures> {
        let config = lambda
            .function(&self.function)
            .with_context(|| format!("no function {} in the template", self.function))?;
        let mean = |v: &[f64]| {
            if v.is_empty() {
                0.0
            } else {
                v.iter().sum::<f64>() / v.len() as f64
            }
        };
        Ok(Figures {
            binary: config.binary.clone(),
            binary_bytes: std::fs::metadata(&config.executable).map_or(0, |m| m.len()),
            function: self.function,
            case: case.to_string(),
            init_ms: self.init_ms,
            cold_duration_ms: self.cold_duration_ms,
            warm_runs: self.durations.len(),
            warm_duration_ms_p50: percentile(&self.durations, 50.0),
            warm_duration_ms_p95: percentile(&self.durations, 95.0),
            warm_cpu_ms_p50: percentile(&self.cpu, 50.0),
            warm_cpu_ms_mean: mean(&self.cpu),
            peak_rss_mib: self.pid.and_then(peak_rss_kib).map(|k| k as f64 / 1024.0),
            statuses: self.statuses,
            diagnostics: self.diagnostics,
        })
    }
}

/// Runs the benchmark of one HTTP function: `requests[0]` cold, the rest warm.
async fn measure(
    lambda: &LambdaService,
    client: &Client,
    function: &str,
    case: &str,
    requests: Vec<Req>,
) -> anyhow::Result<Figures> {
    let mut samples = Samples::start(lambda, function).await;
    for req in &requests {
        let before = samples.cpu_before();
        let reply = client.send(req).await?;
        samples.record(lambda, reply.status, before, reply.diagnostics)?;
    }
    samples.figures(lambda, case)
}

/// Runs a non-HTTP function (schedule, queue) with a fixed event the same way.
async fn measure_event(
    lambda: &LambdaService,
    function: &str,
    case: &str,
    event: &Value,
    runs: usize,
) -> anyhow::Result<Figures> {
    let payload = bytes::Bytes::from(event.to_string());
    let mut samples = Samples::start(lambda, function).await;
    for _ in 0..=runs {
        let before = samples.cpu_before();
        let status = match lambda.invoke(function, payload.clone()).await {
            Ok(_) => 200,
            Err(_) => 500,
        };
        samples.record(lambda, status, before, None)?;
    }
    samples.figures(lambda, case)
}

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

/// The figures as a Markdown table.
pub fn markdown(figures: &[Figures]) -> String {
    let mut s = String::from(
        "| function | case | binary MB | init ms | cold run ms | warm p50 / p95 ms | CPU ms / warm inv. (p50, mean) | peak RSS MB | DynamoDB calls / round trips / Redis calls | est. RCU / WCU | statuses |\n|---|---|---|---|---|---|---|---|---|---|---|\n",
    );
    for f in figures {
        let d = f.diagnostics.as_ref();
        let num = |k: &str| d.and_then(|d| d.get(k)).cloned().unwrap_or(Value::Null);
        let diag = if d.is_some() {
            format!(
                "{} / {} / {}",
                num("dynamodb_calls"),
                num("round_trips"),
                num("redis_calls")
            )
        } else {
            "–".into()
        };
        let cap = if d.is_some() {
            format!("{} / {}", num("rcu_estimated"), num("wcu_estimated"))
        } else {
            "–".into()
        };
        let statuses = f
            .statuses
            .iter()
            .map(|(k, v)| format!("{k}×{v}"))
            .collect::<Vec<_>>()
            .join(" ");
        s.push_str(&format!(
            "| {} | {} | {:.1} | {} | {:.1} | {:.2} / {:.2} | {:.2}, {:.2} | {} | {} | {} | {} |\n",
            f.binary,
            f.case,
            f.binary_bytes as f64 / 1_048_576.0,
            f.init_ms.map_or("–".into(), |v| format!("{v:.1}")),
            f.cold_duration_ms,
            f.warm_duration_ms_p50,
            f.warm_duration_ms_p95,
            f.warm_cpu_ms_p50,
            f.warm_cpu_ms_mean,
            f.peak_rss_mib.map_or("–".into(), |v| format!("{v:.1}")),
            diag,
            cap,
            statuses
        ));
    }
    s
}

/// Where results go by default.
pub fn default_out_dir() -> PathBuf {
    PathBuf::from(".local/bench")
}

/// Elapsed-time helper for the CLI.
pub fn since(t: Instant) -> String {
    format!("{:.1} s", t.elapsed().as_secs_f64())
}
