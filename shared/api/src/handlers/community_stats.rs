//! `GET /api/community/stats`: totals and the last day, cached (see `crate::stats`).

use http::StatusCode;

use crate::app::{App, Ctx};
use crate::auth::tokens::Caller;
use crate::extract::MarkedActive;
use crate::function::{Handler, Reply};
use crate::http::json;
use crate::state::{DbAndTokens, WithRedis};

pub struct GetStats;

impl Handler for GetStats {
    type State = WithRedis<DbAndTokens>;
    /// Anonymous or signed in alike; a bad token is still 401. The caller is not used, but a
    /// signed-in caller is marked active like on every other endpoint.
    type Input = MarkedActive<Option<Caller>>;

    async fn handle(&self, app: &App<Self::State>, ctx: &mut Ctx, _caller: Self::Input) -> Reply {
        let served = crate::stats::get(&app.stats_source(), &mut ctx.metrics).await?;
        let mut response = json(StatusCode::OK, &served.stats)?;
        // What is left of the stats' TTL: held by an HTTP cache, never older than the TTL.
        response.headers_mut().insert(
            http::header::CACHE_CONTROL,
            served.cache_control(app.config.stats_ttl_secs),
        );
        Ok(response)
    }
}
