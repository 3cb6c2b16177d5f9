//! Roadmaps (`/api/roadmaps`): the public catalog, generated plans that follow the contract,
//! invalid requests, owners only, steps marked done (progress, streak, next step), deletion,
//! the generation limit; and streaks across time zones and DST.

use rota_tests::*;
use serde_json::{Value, json};

const ROADMAPS: &str = "/api/roadmaps";

fn steps(roadmap: &Value) -> Vec<Value> {
    roadmap["milestones"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|m| m["steps"].as_array().unwrap().clone())
        .collect()
}

/// A new account and a roadmap of theirs generated for `goal` at `level`, `hours` a week.
async fn account_with_roadmap(api: &Api, goal: &str, level: &str, hours: u32) -> (Account, Value) {
    let me = api.new_account().await;
    let body = json!({"goal": goal, "level": level, "hours_per_week": hours});
    let roadmap = api.create_roadmap(&me, body).await.json();
    (me, roadmap)
}

#[tokio::test]
async fn the_catalog_is_public_and_lists_at_least_eight_goals() {
    let api = Api::new();
    let reply = api.get("/api/roadmaps/catalog", None).await;
    assert_eq!(reply.status, 200, "{}", reply.text);
    let goals = reply.json()["goals"].as_array().unwrap().clone();
    assert!(goals.len() >= 8);
    for g in &goals {
        assert!(g["slug"].is_string() && g["title"].is_string() && g["description"].is_string());
    }
    api.get("/api/roadmaps/catalog", Some("bad"))
        .await
        .problem(401);
}

#[tokio::test]
async fn a_generated_roadmap_follows_the_contract() {
    let (api, me) = Api::signed_up().await;
    let reply = api
        .create_roadmap(
            &me,
            json!({"goal": "backend", "level": "intermediate", "hours_per_week": 6, "known_skills": ["git"]}),
        )
        .await;
    assert_eq!(reply.status, 201, "{}", reply.text);
    let roadmap = reply.json();
    assert_eq!(roadmap["goal"], "backend");
    assert_eq!(roadmap["level"], "intermediate");
    assert_eq!(roadmap["hours_per_week"], 6);
    assert_eq!(roadmap["progress_percent"], 0);
    let steps = steps(&roadmap);
    assert!(steps.len() >= 10);
    let mut total = 0.0;
    for (i, step) in steps.iter().enumerate() {
        assert_eq!(step["id"], i as u64 + 1, "step ids are 1..n in plan order");
        assert_eq!(step["done"], false);
        assert!(step["done_at"].is_null());
        assert_ne!(step["skill"], "git", "a known skill is left out");
        assert!(step["resources"].as_array().unwrap().len() >= 2);
        assert!(step["est_hours"].as_f64().unwrap() > 0.0);
        total += step["est_hours"].as_f64().unwrap();
        let (start, end) = (
            step["week_start"].as_u64().unwrap(),
            step["week_end"].as_u64().unwrap(),
        );
        assert!(start <= end && end <= roadmap["total_weeks"].as_u64().unwrap());
    }
    assert_eq!(total, roadmap["total_hours"].as_f64().unwrap());
    assert!(
        total <= 6.0 * roadmap["total_weeks"].as_f64().unwrap(),
        "no week over hours_per_week"
    );
    let again = api
        .get(&format!("{ROADMAPS}/{}", roadmap["id"]), me.token())
        .await
        .json();
    assert_eq!(again, roadmap);
    let list = api.get(ROADMAPS, me.token()).await.json();
    assert_eq!(list["items"][0]["id"], roadmap["id"]);
    assert_eq!(list["items"][0]["progress_percent"], 0);
}

#[tokio::test]
async fn invalid_roadmap_requests_are_listed_field_by_field() {
    let (api, me) = Api::signed_up().await;
    let bad = api
        .create_roadmap(
            &me,
            json!({"goal": "astrology", "level": "guru", "hours_per_week": 81, "known_skills": "git"}),
        )
        .await
        .problem(422);
    let fields = error_fields(&bad);
    assert_eq!(fields, ["goal", "level", "hours_per_week", "known_skills"]);
    api.create_roadmap(
        &me,
        json!({"goal": "backend", "level": "beginner", "hours_per_week": 0}),
    )
    .await
    .problem(422);
    api.create_roadmap(&me, json!({"goal": "backend", "level": "beginner"}))
        .await
        .problem(422);
    api.post(
        ROADMAPS,
        &json!({"goal": "backend", "level": "beginner", "hours_per_week": 5}),
        None,
    )
    .await
    .problem(401);
}

#[tokio::test]
async fn roadmaps_are_visible_to_their_owner_only() {
    let (api, owner) = Api::signed_up().await;
    let other = api.new_account().await;
    let roadmap = api
        .create_roadmap(
            &owner,
            json!({"goal": "frontend", "level": "beginner", "hours_per_week": 10}),
        )
        .await
        .json();
    let path = format!("{ROADMAPS}/{}", roadmap["id"]);
    let theirs = other.token();
    api.get(&path, theirs).await.problem(404);
    api.patch(&format!("{path}/steps/1"), &json!({"done": true}), theirs)
        .await
        .problem(404);
    api.delete(&path, theirs).await.problem(404);
    assert!(
        api.get(ROADMAPS, theirs).await.json()["items"]
            .as_array()
            .unwrap()
            .is_empty()
    );
    assert_eq!(api.get(&path, owner.token()).await.status, 200);
}

#[tokio::test]
async fn marking_steps_moves_progress_the_streak_and_the_next_step() {
    let api = Api::new();
    let (me, roadmap) = account_with_roadmap(&api, "ux-design", "advanced", 20).await;
    let token = me.token();
    let total = steps(&roadmap).len();
    let path = format!("{ROADMAPS}/{}", roadmap["id"]);

    let before = api.get("/api/dashboard", token).await.json();
    assert_eq!(before["streak_days"], 0);
    assert_eq!(before["roadmaps"][0]["next_step"]["id"], 1);

    let step = api
        .patch(&format!("{path}/steps/1"), &json!({"done": true}), token)
        .await;
    assert_eq!(step.status, 200, "{}", step.text);
    let step = step.json();
    assert_eq!(step["id"], 1);
    assert_eq!(step["done"], true);
    assert!(step["done_at"].as_str().unwrap().ends_with('Z'));
    // Idempotent: marking again keeps the first done_at.
    let again = api
        .patch(&format!("{path}/steps/1"), &json!({"done": true}), token)
        .await
        .json();
    assert_eq!(again["done_at"], step["done_at"]);

    let progressed = api.get(&path, token).await.json();
    assert_eq!(progressed["progress_percent"], (100 / total) as u64);
    let dash = api.get("/api/dashboard", token).await.json();
    assert_eq!(dash["streak_days"], 1);
    assert_eq!(dash["roadmaps"][0]["next_step"]["id"], 2);
    assert_eq!(
        dash["roadmaps"][0]["progress_percent"],
        progressed["progress_percent"]
    );

    let undone = api
        .patch(&format!("{path}/steps/1"), &json!({"done": false}), token)
        .await
        .json();
    assert_eq!(undone["done"], false);
    assert!(undone["done_at"].is_null());
    assert_eq!(api.get(&path, token).await.json()["progress_percent"], 0);

    for bad in ["0", "999", "abc"] {
        api.patch(
            &format!("{path}/steps/{bad}"),
            &json!({"done": true}),
            token,
        )
        .await
        .problem(404);
    }
    api.patch(&format!("{path}/steps/1"), &json!({"done": "yes"}), token)
        .await
        .problem(422);
    api.patch(&format!("{path}/steps/1"), &json!({}), token)
        .await
        .problem(422);
}

#[tokio::test]
async fn a_deleted_roadmap_is_gone() {
    let api = Api::new();
    let (me, roadmap) = account_with_roadmap(&api, "mobile", "beginner", 8).await;
    let token = me.token();
    let path = format!("{ROADMAPS}/{}", roadmap["id"]);
    assert_eq!(api.delete(&path, token).await.status, 204);
    api.get(&path, token).await.problem(404);
    api.delete(&path, token).await.problem(404);
    api.get(&format!("{ROADMAPS}/not-a-number"), token)
        .await
        .problem(404);
}

#[tokio::test]
async fn generating_roadmaps_is_limited_per_user() {
    let (api, me) = Api::signed_up().await;
    let body = json!({"goal": "devops-cloud", "level": "beginner", "hours_per_week": 5});
    for _ in 0..10 {
        let r = api.create_roadmap(&me, body.clone()).await;
        assert_eq!(r.status, 201, "{}", r.text);
        assert_eq!(r.header("ratelimit-limit"), Some("10"));
    }
    let limited = api.create_roadmap(&me, body).await;
    limited.problem(429);
    assert!(limited.header("retry-after").is_some());
}

/// Handlers called in this process, against the stack's emulator and Redis.
mod in_process {
    use super::*;

    #[tokio::test]
    async fn streaks_survive_timezones_and_dst_and_concurrent_writers() {
        use chrono::TimeZone;
        use rota_domain::streak::{after_completion, current, local_date};
        let (db, table) = stack_table().await;
        let store = rota_store::roadmaps::Roadmaps::new(&db, &table);
        let user = rota_domain::ids::new_id();
        let tz = "America/New_York";
        // 23:30 local on 7, 8 and 9 March 2026: the clocks spring forward on the 8th.
        let instants = [
            (2026, 3, 8, 4, 30),
            (2026, 3, 9, 3, 30),
            (2026, 3, 10, 3, 30),
        ];
        for (y, m, d, h, min) in instants {
            let at = chrono::Utc.with_ymd_and_hms(y, m, d, h, min, 0).unwrap();
            let previous = store.streak(user).await.unwrap();
            let next = after_completion(previous, local_date(at, tz));
            assert!(store.save_streak(user, previous, next).await.unwrap());
        }
        let saved = store.streak(user).await.unwrap().unwrap();
        assert_eq!(saved.days, 3);
        let march_10 = chrono::NaiveDate::from_ymd_opt(2026, 3, 10).unwrap();
        assert_eq!(current(Some(saved), march_10), 3);
        // A writer holding a stale copy loses the race instead of overwriting.
        let stale = rota_domain::streak::Streak {
            last_day: saved.last_day,
            days: 1,
        };
        assert!(
            !store
                .save_streak(user, Some(stale), after_completion(Some(stale), march_10))
                .await
                .unwrap()
        );
    }
}

/// Step marks and the streak when answers are lost, reads fail or attempts land late: a step
/// is done exactly when its day is credited, once (in-process, on a tampered client).
mod in_process_steps_exactly_once {
    use super::*;
    use rota_api::handlers::roadmaps::{CreateRoadmap, PatchStep};
    use rota_store::roadmaps::Roadmaps;

    /// A fresh learner with a roadmap (through the handlers): (user id, token, roadmap id).
    async fn learner_with_roadmap(app: &TestApp) -> (i64, String, i64) {
        let (_, body) = registered(app).await;
        let token = body["access_token"].as_str().unwrap().to_owned();
        let create = with_token(sample_event("roadmaps-create"), &token);
        let reply = call(app, &CreateRoadmap, &create).await;
        assert_eq!(reply.status, 201, "{}", reply.text);
        let user = body["user"]["id"].as_i64().unwrap();
        (user, token, reply.json()["id"].as_i64().unwrap())
    }

    fn mark(token: &str, roadmap: i64, step: u32, done: bool) -> Value {
        let mut event = sample_event("roadmaps-step-patch");
        let path = format!("/api/roadmaps/{roadmap}/steps/{step}");
        event["rawPath"] = json!(path);
        event["requestContext"]["http"]["path"] = json!(path);
        event["pathParameters"] = json!({"id": roadmap.to_string(), "step_id": step.to_string()});
        with_body(with_token(event, token), &json!({ "done": done }))
    }

    async fn days(app: &TestApp, user: i64) -> Option<u32> {
        let store = Roadmaps::new(app.db(), app.table());
        store.streak(user).await.unwrap().map(|s| s.days)
    }

    async fn is_done(app: &TestApp, user: i64, roadmap: i64, step: u32) -> bool {
        let store = Roadmaps::new(app.db(), app.table());
        let roadmap = store.get(user, roadmap).await.unwrap().unwrap();
        roadmap.done.contains_key(&step)
    }

    const WRITES: &[&str] = &["UpdateItem", "PutItem", "TransactWriteItems"];

    #[tokio::test]
    async fn a_mark_whose_answer_was_lost_is_credited_once_and_its_retry_changes_nothing() {
        let (app, tamper) = tampered_app().await;
        let (user, token, roadmap) = learner_with_roadmap(&app).await;
        // The first write touching the roadmap is applied and its answer lost.
        tamper.lose_answers(WRITES, "ROADMAP#", 1);
        let first = call(&app, &PatchStep, &mark(&token, roadmap, 1, true)).await;
        tamper.clear();
        // Whatever the first answer, the client retries it as it would.
        let retry = call(&app, &PatchStep, &mark(&token, roadmap, 1, true)).await;
        assert_eq!(
            retry.status, 200,
            "first: {} {}; retry: {}",
            first.status, first.text, retry.text
        );
        assert!(is_done(&app, user, roadmap, 1).await);
        assert_eq!(
            days(&app, user).await,
            Some(1),
            "the day is credited exactly once"
        );
    }

    #[tokio::test]
    async fn a_failed_read_beside_the_mark_leaves_nothing_half_done() {
        let (mut app, tamper) = tampered_app().await;
        let (user, token, roadmap) = learner_with_roadmap(&app).await;
        app.set_config(deployed_budget);
        // The streak stays unreadable for the whole first request.
        tamper.refuse(&["GetItem"], "STREAK", 0, usize::MAX);
        let first = call(&app, &PatchStep, &mark(&token, roadmap, 1, true)).await;
        first.problem(503);
        tamper.clear();
        let retry = call(&app, &PatchStep, &mark(&token, roadmap, 1, true)).await;
        assert_eq!(retry.status, 200, "{}", retry.text);
        assert!(is_done(&app, user, roadmap, 1).await);
        assert_eq!(days(&app, user).await, Some(1), "the retry credits the day");
    }

    #[tokio::test]
    async fn marks_the_same_day_credit_one_day() {
        let app = app().await;
        let (user, token, roadmap) = learner_with_roadmap(&app).await;
        let (one, two) = (
            mark(&token, roadmap, 1, true),
            mark(&token, roadmap, 2, true),
        );
        // Boxed: two handler futures side by side outgrow the test thread's stack.
        let (a, b) = tokio::join!(
            Box::pin(call(&app, &PatchStep, &one)),
            Box::pin(call(&app, &PatchStep, &two))
        );
        assert_eq!((a.status, b.status), (200, 200), "{} {}", a.text, b.text);
        // Unmarked and marked again the same day: still one day.
        for done in [false, true] {
            let reply = call(&app, &PatchStep, &mark(&token, roadmap, 1, done)).await;
            assert_eq!(reply.status, 200, "{}", reply.text);
        }
        assert_eq!(days(&app, user).await, Some(1));
        assert!(is_done(&app, user, roadmap, 1).await && is_done(&app, user, roadmap, 2).await);
    }

    #[tokio::test]
    async fn a_late_attempt_of_an_older_mark_cannot_undo_a_newer_one() {
        let (app, tamper) = tampered_app().await;
        let (user, token, roadmap) = learner_with_roadmap(&app).await;
        let done = call(&app, &PatchStep, &mark(&token, roadmap, 1, true)).await;
        assert_eq!(done.status, 200, "{}", done.text);
        let older = tamper
            .sent(WRITES, "ROADMAP#")
            .pop()
            .expect("the mark's write");
        let undone = call(&app, &PatchStep, &mark(&token, roadmap, 1, false)).await;
        assert_eq!(undone.status, 200, "{}", undone.text);
        // The older mark's exact call arrives now, as an abandoned attempt would.
        let (status, body) = older.replay().await;
        assert!(
            !is_done(&app, user, roadmap, 1).await,
            "the late attempt ({status} {body}) undid the newer unmark"
        );
    }
}

async fn catalog_with(api: &Api, token: Option<&str>, accept_language: Option<&str>) -> HttpReply {
    let headers: Vec<(&str, &str)> = accept_language
        .map(|v| ("accept-language", v))
        .into_iter()
        .collect();
    let reply = api
        .send_with("GET", "/api/roadmaps/catalog", token, None, None, &headers)
        .await;
    assert_eq!(reply.status, 200, "{}", reply.text);
    reply
}

fn backend_title(catalog: &HttpReply) -> String {
    let goals = catalog.json()["goals"].as_array().unwrap().clone();
    let backend = goals.iter().find(|g| g["slug"] == "backend").unwrap();
    backend["title"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn the_catalog_speaks_accept_language_signed_out_and_the_profile_signed_in() {
    let api = Api::new();
    // Signed out: Accept-Language, cached per language.
    let tr = catalog_with(&api, None, Some("tr-TR,tr;q=0.9,en;q=0.8")).await;
    assert_eq!(backend_title(&tr), "Backend geliştirici");
    assert_eq!(tr.header("vary"), Some("Accept-Language"));
    assert_eq!(tr.header("cache-control"), Some("public, max-age=3600"));
    for header in [Some("en-US"), None, Some("de")] {
        let en = catalog_with(&api, None, header).await;
        assert_eq!(backend_title(&en), "Backend developer", "{header:?}");
        assert_eq!(en.header("vary"), Some("Accept-Language"));
    }
    // Signed in: the profile's language, whatever the header; private to the caller.
    let me = api.new_account().await;
    let token = me.token();
    let en = catalog_with(&api, token, Some("tr")).await;
    assert_eq!(backend_title(&en), "Backend developer");
    assert_eq!(en.header("cache-control"), Some("private, no-cache"));
    assert_eq!(en.header("vary"), Some("Accept-Language, Authorization"));
    let reply = api
        .patch("/api/users/me", &json!({"locale": "tr"}), token)
        .await;
    assert_eq!(reply.status, 200, "{}", reply.text);
    let tr = catalog_with(&api, token, Some("en-US")).await;
    assert_eq!(backend_title(&tr), "Backend geliştirici");
}

#[tokio::test]
async fn a_roadmap_reads_in_its_readers_language_and_follows_a_change() {
    let api = Api::new();
    let (me, created) = account_with_roadmap(&api, "backend", "beginner", 10).await;
    let token = me.token();
    assert_eq!(
        created["title"],
        "Backend developer roadmap (beginner, 10 h/week)"
    );
    let id = created["id"].as_i64().unwrap();
    let english = steps(&created);
    let reply = api
        .patch("/api/users/me", &json!({"locale": "tr"}), token)
        .await;
    assert_eq!(reply.status, 200, "{}", reply.text);

    let roadmap = api.get(&format!("/api/roadmaps/{id}"), token).await.json();
    let title = "Backend geliştirici yol haritası (başlangıç, haftada 10 saat)";
    assert_eq!(roadmap["title"], title);
    let goal = rota_roadmap::goal("backend").unwrap();
    assert_eq!(
        roadmap["milestones"][0]["title"],
        goal.milestone_in(rota_roadmap::Stage::Foundations, rota_roadmap::Locale::Tr)
    );
    let turkish = steps(&roadmap);
    assert_eq!(turkish.len(), english.len());
    for (en, tr) in english.iter().zip(&turkish) {
        // The same step (id, skill, hours), its texts in Turkish.
        assert_eq!(
            (&en["id"], &en["skill"], &en["est_hours"]),
            (&tr["id"], &tr["skill"], &tr["est_hours"])
        );
        let skill = goal.skill(en["skill"].as_str().unwrap()).unwrap();
        assert_eq!(tr["title"], skill.title_in(rota_roadmap::Locale::Tr));
        assert_eq!(
            tr["description"],
            skill.description_in(rota_roadmap::Locale::Tr)
        );
        assert_ne!(tr["title"], en["title"]);
    }
    let list = api.get("/api/roadmaps", token).await.json();
    assert_eq!(list["items"][0]["title"], title);
    let dashboard = api.get("/api/dashboard", token).await.json();
    assert_eq!(dashboard["roadmaps"][0]["title"], title);
    assert_eq!(
        dashboard["roadmaps"][0]["next_step"]["title"],
        turkish[0]["title"]
    );
    let step_id = turkish[0]["id"].as_i64().unwrap();
    let marked = api
        .patch(
            &format!("/api/roadmaps/{id}/steps/{step_id}"),
            &json!({"done": true}),
            token,
        )
        .await;
    assert_eq!(marked.status, 200, "{}", marked.text);
    assert_eq!(marked.json()["title"], turkish[0]["title"]);
}
