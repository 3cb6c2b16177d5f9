//! `rota`: every Lambda function of the template, one binary. Each function's `Handler` (Lambda
//! passes it as `_HANDLER`) names the endpoint this instance serves; the logic of each lives in
//! `rota_api::handlers`. Why one binary, and what it costs in cold start, size and isolation:
//! BENCHMARKS.md ("One binary for every function").

// The reminder scheduler's future is deep (SDK pagination inside `join`s).
#![recursion_limit = "256"]

use rota_api::handlers::*;

type Error = lambda_runtime::Error;

/// The table: handler name (the template's `Handler`) → how its instance runs.
macro_rules! handlers {
    ($($name:literal => $kind:ident $handler:path,)*) => {
        /// Every handler name this binary serves, in the table's order.
        const HANDLERS: &[&str] = &[$($name),*];

        async fn serve(name: &str) -> Result<(), Error> {
            match name {
                $($name => handlers!(@run $kind $handler),)*
                other => Err(format!(
                    "unknown handler {other:?} (_HANDLER): this binary serves {}",
                    HANDLERS.join(", ")
                )
                .into()),
            }
        }
    };
    (@run http $handler:path) => { rota_api::run($handler).await };
    (@run job $handler:path) => { rota_api::run_job($handler).await };
}

handlers! {
    "auth-login" => http auth::Login,
    "auth-logout" => http auth::Logout,
    "auth-refresh" => http auth::Refresh,
    "auth-register" => http auth::Register,
    "community-comments-create" => http comments::CreateComment,
    "community-comments-delete" => http comments::DeleteComment,
    "community-comments-list" => http comments::ListComments,
    "community-posts-create" => http posts::CreatePost,
    "community-posts-delete" => http posts::DeletePost,
    "community-posts-get" => http posts::GetPost,
    "community-posts-like" => http likes::LikePost,
    "community-posts-list" => http posts::ListPosts,
    "community-posts-patch" => http posts::PatchPost,
    "community-posts-unlike" => http likes::UnlikePost,
    "community-stats" => http community_stats::GetStats,
    "dashboard" => http dashboard::Dashboard,
    "docs" => http docs::Docs,
    "health-live" => http ops::HealthLive,
    "health-ready" => http ops::HealthReady,
    "mail-events" => job mail::MailEvents,
    "not-found" => http ops::NotFound,
    "notifications-list" => http notifications::ListNotifications,
    "notifications-read-all" => http notifications::ReadAllNotifications,
    "notifications-read" => http notifications::ReadNotification,
    "openapi" => http ops::OpenApi,
    "reminders-scheduler" => job jobs::RemindersScheduler,
    "reminders-unsubscribe" => http mail::Unsubscribe,
    "reminders-worker" => job jobs::RemindersWorker,
    "roadmaps-catalog" => http roadmaps::Catalog,
    "roadmaps-create" => http roadmaps::CreateRoadmap,
    "roadmaps-delete" => http roadmaps::DeleteRoadmap,
    "roadmaps-get" => http roadmaps::GetRoadmap,
    "roadmaps-list" => http roadmaps::ListRoadmaps,
    "roadmaps-step-patch" => http roadmaps::PatchStep,
    "users-me-get" => http users::GetMe,
    "users-me-patch" => http users::PatchMe,
}

fn main() -> Result<(), Error> {
    // `rota --handlers`: the table, for the tests that hold it against the template.
    if std::env::args().nth(1).as_deref() == Some("--handlers") {
        println!("{}", HANDLERS.join("\n"));
        return Ok(());
    }
    let name = std::env::var("_HANDLER").map_err(|_| "_HANDLER is not set")?;
    // One thread: an instance serves one invocation at a time, so a work-stealing pool only
    // adds cross-thread wake-ups (~27 context switches per request against ~5; BENCHMARKS.md).
    // argon2 still runs on the blocking pool, off the event loop.
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?
        .block_on(serve(&name))
}
