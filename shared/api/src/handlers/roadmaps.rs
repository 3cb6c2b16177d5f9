//! Roadmaps: the catalog, generation, progress and streaks.
//!
//! Language: plans are stored in English and shown in the caller's `locale` (their profile,
//! one GetItem read alongside the others; the catalog signed out: `Accept-Language`), looked
//! up in the catalog by goal, level and skill (`rota_roadmap::Plan::localized`).
//!
//! Generation is limited to 10 per user per hour: a plan is pure CPU (milliseconds), but each
//! stores ~15 KB (≈ 15 write units) that stays until deleted, and no learner needs more than a
//! handful of plans an hour; the limit bounds storage abuse, not compute.

use chrono::Utc;
use http::StatusCode;
use serde::Serialize;
use serde_json::{Value, json};

use super::views::timestamp;
use super::with_fresh_id;
use crate::app::{App, Ctx};
use crate::auth::tokens::Caller;
use crate::error::{ApiError, ApiResult, FieldError};
use crate::extract::{AcceptLanguage, FromJson, Idempotent, Json, MarkedActive, Path, not_found};
use crate::fields::Fields;
use crate::function::{Handler, Reply};
use crate::http::{json, json_text, no_content};
use crate::roadmap_text::summary_title;
use crate::state::{DbAndTokens, WithRedis};
use rota_domain::ids::{RoadmapId, StepId};
use rota_domain::locale::Locale;
use rota_domain::streak;
use rota_store::roadmaps::{Mark, Roadmap, Roadmaps};
use rota_store::users::Users;

pub struct Catalog;

impl Handler for Catalog {
    type State = DbAndTokens;
    /// Anonymous or signed in alike; a bad token is still 401.
    type Input = (MarkedActive<Option<Caller>>, AcceptLanguage);

    async fn handle(&self, app: &App<Self::State>, _ctx: &mut Ctx, input: Self::Input) -> Reply {
        let (MarkedActive(caller), AcceptLanguage(header_locale)) = input;
        // Signed in: the profile's language (an account gone since its token: the header's).
        let locale = match caller {
            Some(caller) => Users::new(app.db(), app.table())
                .get(caller.user_id)
                .await?
                .map_or(header_locale, |u| u.locale),
            None => header_locale,
        };
        let goals = rota_roadmap::catalog_in(locale);
        let mut response = json(StatusCode::OK, &json!({"goals": goals}))?;
        let headers = response.headers_mut();
        // Shared caches may keep the signed-out answer per language; a signed-in one follows
        // the profile, which can change at any time, so only the caller's browser keeps it and
        // asks again before using it.
        let (cache, vary) = match caller {
            None => ("public, max-age=3600", "Accept-Language"),
            Some(_) => ("private, no-cache", "Accept-Language, Authorization"),
        };
        headers.insert(
            http::header::CACHE_CONTROL,
            http::HeaderValue::from_static(cache),
        );
        headers.insert(http::header::VARY, http::HeaderValue::from_static(vary));
        Ok(response)
    }
}

#[derive(Serialize)]
struct StepView<'a> {
    id: u32,
    skill: &'a str,
    title: &'a str,
    description: &'a str,
    est_hours: rota_roadmap::Hours,
    resources: &'a [rota_roadmap::Resource],
    week_start: u32,
    week_end: u32,
    done: bool,
    done_at: Option<String>,
}

/// The OpenAPI Roadmap: the stored plan with step ids (1..=n in plan order) and progress, in
/// `locale`.
fn roadmap_view(summary: &Roadmap, plan: &rota_roadmap::Plan, locale: Locale) -> Value {
    let plan = &plan.localized(locale);
    let mut next_id = 0u32;
    let milestones: Vec<Value> = plan
        .milestones
        .iter()
        .map(|m| {
            let steps: Vec<StepView> = m
                .steps
                .iter()
                .map(|step| {
                    next_id += 1;
                    step_view(summary, next_id, step)
                })
                .collect();
            json!({"index": m.index, "title": m.title, "week_start": m.week_start, "week_end": m.week_end, "steps": steps})
        })
        .collect();
    json!({
        "id": summary.id,
        "title": summary_title(summary, locale),
        "goal": summary.goal,
        "level": summary.level,
        "hours_per_week": summary.hours_per_week,
        "total_hours": plan.total_hours,
        "total_weeks": plan.total_weeks,
        "progress_percent": summary.progress_percent(),
        "created_at": timestamp(summary.created_at),
        "milestones": milestones,
    })
}

fn step_view<'a>(summary: &Roadmap, id: u32, step: &'a rota_roadmap::Step) -> StepView<'a> {
    let done_at = summary.done.get(&id).map(|t| timestamp(*t));
    StepView {
        id,
        skill: &step.skill,
        title: &step.title,
        description: &step.description,
        est_hours: step.est_hours,
        resources: &step.resources,
        week_start: step.week_start,
        week_end: step.week_end,
        done: done_at.is_some(),
        done_at,
    }
}

fn parse_plan(raw: &str) -> ApiResult<rota_roadmap::Plan> {
    serde_json::from_str(raw).map_err(ApiError::internal)
}

/// The body of `POST /api/roadmaps`.
pub struct NewRoadmap {
    goal: String,
    level: rota_roadmap::Level,
    hours_per_week: u32,
    known_skills: Vec<String>,
}

impl FromJson for NewRoadmap {
    fn from_fields(fields: &mut Fields<'_>) -> Option<Self> {
        let goal = fields.required("goal", |g| {
            rota_roadmap::goal(g)
                .map(|_| g.to_owned())
                .ok_or("must be a goal slug from the catalog")
        });
        let level = fields.required("level", |l| {
            l.parse::<rota_roadmap::Level>()
                .map_err(|_| "must be beginner, intermediate or advanced")
        });
        let hours = fields.required_int("hours_per_week", |h| {
            u32::try_from(h)
                .ok()
                .filter(|h| rota_roadmap::HOURS_PER_WEEK.contains(h))
                .ok_or("must be an integer from 1 to 80")
        });
        let known = fields.optional_string_list("known_skills", 200);
        Some(NewRoadmap {
            goal: goal?,
            level: level?,
            hours_per_week: hours?,
            known_skills: known.unwrap_or_default(),
        })
    }
}

pub struct CreateRoadmap;

impl Handler for CreateRoadmap {
    type State = WithRedis<DbAndTokens>;
    type Input = (MarkedActive<Caller>, Idempotent<NewRoadmap>);

    async fn handle(&self, app: &App<Self::State>, ctx: &mut Ctx, input: Self::Input) -> Reply {
        let (MarkedActive(caller), Idempotent { body, replay }) = input;
        let scope = "roadmaps.create";
        crate::idempotency::run(app, replay, caller.user_id, scope, |guard| async move {
            // Inside: a replayed request is answered before it counts against the limit.
            let key = format!("roadmap:user:{}", caller.user_id);
            app.enforce_limit(ctx, &key, app.config.roadmap_limit)
                .await?;
            let NewRoadmap {
                goal,
                level,
                hours_per_week,
                known_skills,
            } = body;
            let plan = rota_roadmap::generate(&goal, level, hours_per_week, &known_skills)
                .map_err(|e| {
                    ApiError::Validation(vec![FieldError::new(e.field(), e.to_string())])
                })?;
            let plan_json = serde_json::to_string(&plan).map_err(ApiError::internal)?;
            let locale = super::caller_account(app, caller.user_id).await?.locale;
            let store = Roadmaps::new(app.db(), app.table());
            let (guard, plan, plan_json, store) = (&guard, &plan, &plan_json, &store);
            let view = with_fresh_id(|id| async move {
                let summary = Roadmap {
                    id,
                    user_id: caller.user_id,
                    title: plan.title.clone(),
                    goal: plan.goal.clone(),
                    level: level.as_str().to_owned(),
                    hours_per_week: plan.hours_per_week,
                    total_hours: plan.total_hours.as_f64(),
                    total_weeks: plan.total_weeks,
                    created_at: Utc::now(),
                    steps: plan
                        .steps()
                        .enumerate()
                        .map(|(i, s)| (i as u32 + 1, s.title.clone()))
                        .collect(),
                    done: Default::default(),
                    version: 0,
                };
                let view = serde_json::to_string(&roadmap_view(&summary, plan, locale))
                    .map_err(ApiError::internal)?;
                let completion = guard.completion(StatusCode::CREATED, &view)?;
                let created = store.create(&summary, plan_json, completion).await?;
                Ok(created.then_some(view))
            })
            .await?;
            ctx.metrics.count("RoadmapsCreated");
            Ok(json_text(StatusCode::CREATED, view))
        })
        .await
    }
}

pub struct ListRoadmaps;

impl Handler for ListRoadmaps {
    type State = DbAndTokens;
    type Input = MarkedActive<Caller>;

    async fn handle(&self, app: &App<Self::State>, _ctx: &mut Ctx, caller: Self::Input) -> Reply {
        let (store, users) = (
            Roadmaps::new(app.db(), app.table()),
            Users::new(app.db(), app.table()),
        );
        let (roadmaps, user) =
            tokio::try_join!(store.list(caller.user_id), users.get(caller.user_id))?;
        let locale = user.map(|u| u.locale).unwrap_or_default();
        let items: Vec<Value> = roadmaps
            .iter()
            .map(|r| {
                json!({
                    "id": r.id,
                    "title": summary_title(r, locale),
                    "goal": r.goal,
                    "progress_percent": r.progress_percent(),
                    "created_at": timestamp(r.created_at),
                })
            })
            .collect();
        json(StatusCode::OK, &json!({"items": items}))
    }
}

pub struct GetRoadmap;

impl Handler for GetRoadmap {
    type State = DbAndTokens;
    type Input = (MarkedActive<Caller>, Path<RoadmapId>);

    async fn handle(&self, app: &App<Self::State>, _ctx: &mut Ctx, input: Self::Input) -> Reply {
        let (MarkedActive(caller), Path(id)) = input;
        let store = Roadmaps::new(app.db(), app.table());
        let users = Users::new(app.db(), app.table());
        let (summary, plan, user) = tokio::try_join!(
            store.get(caller.user_id, id.0),
            store.plan(caller.user_id, id.0),
            users.get(caller.user_id),
        )?;
        let (Some(summary), Some(plan)) = (summary, plan) else {
            return Err(not_found::<RoadmapId>());
        };
        let locale = user.map(|u| u.locale).unwrap_or_default();
        let view = roadmap_view(&summary, &parse_plan(&plan)?, locale);
        json(StatusCode::OK, &view)
    }
}

/// The body of `PATCH /api/roadmaps/{id}/steps/{step_id}`.
pub struct StepPatch {
    done: bool,
}

impl FromJson for StepPatch {
    fn from_fields(fields: &mut Fields<'_>) -> Option<Self> {
        Some(StepPatch {
            done: fields.required_bool("done")?,
        })
    }
}

pub struct PatchStep;

impl Handler for PatchStep {
    type State = DbAndTokens;
    type Input = (
        MarkedActive<Caller>,
        Path<RoadmapId>,
        Path<StepId>,
        Json<StepPatch>,
    );

    async fn handle(&self, app: &App<Self::State>, ctx: &mut Ctx, input: Self::Input) -> Reply {
        let (MarkedActive(caller), Path(id), Path(StepId(step)), Json(StepPatch { done })) = input;
        let no_step = not_found::<StepId>;
        let id = id.0;
        let db = app.db();
        let store = Roadmaps::new(db, app.table());
        let users = Users::new(db, app.table());
        // The reads come first and the mark and its streak credit are one transaction
        // conditional on what was read: a lost answer, a failed read or a retry can neither
        // mark a step without crediting its day nor credit it twice.
        for _ in 0..5 {
            let now = Utc::now();
            let (roadmap, plan, user, previous) = tokio::try_join!(
                store.get(caller.user_id, id),
                store.plan(caller.user_id, id),
                users.get(caller.user_id),
                store.streak(caller.user_id),
            )?;
            let (Some(roadmap), Some(plan)) = (roadmap, plan) else {
                return Err(no_step());
            };
            let locale = user.as_ref().map(|u| u.locale).unwrap_or_default();
            let plan = parse_plan(&plan)?.localized(locale);
            let step_def = plan.steps().nth(step as usize - 1).ok_or_else(no_step)?;
            if !roadmap.steps.iter().any(|(s, _)| *s == step) {
                return Err(no_step());
            }
            if roadmap.done.contains_key(&step) == done {
                // Already as asked (a repeat): its day was credited with it.
                return json(StatusCode::OK, &step_view(&roadmap, step, step_def));
            }
            let credit = if done {
                let timezone = user.as_ref().map_or("UTC", |u| u.timezone.as_str());
                let next = streak::after_completion(previous, streak::local_date(now, timezone));
                (Some(next) != previous).then_some((previous, next))
            } else {
                None
            };
            match store.mark(&roadmap, step, done, now, credit).await? {
                Mark::Changed(summary) => {
                    if done {
                        ctx.metrics.count("StepsCompleted");
                    }
                    return json(StatusCode::OK, &step_view(&summary, step, step_def));
                }
                // Another mark or credit came first: decide again on what it left.
                Mark::Stale => continue,
            }
        }
        Err(ApiError::Unavailable("the database"))
    }
}

pub struct DeleteRoadmap;

impl Handler for DeleteRoadmap {
    type State = DbAndTokens;
    type Input = (MarkedActive<Caller>, Path<RoadmapId>);

    async fn handle(&self, app: &App<Self::State>, _ctx: &mut Ctx, input: Self::Input) -> Reply {
        let (MarkedActive(caller), Path(id)) = input;
        if Roadmaps::new(app.db(), app.table())
            .delete(caller.user_id, id.0)
            .await?
        {
            Ok(no_content())
        } else {
            Err(not_found::<RoadmapId>())
        }
    }
}
