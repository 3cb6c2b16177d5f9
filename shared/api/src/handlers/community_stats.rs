//! `GET /api/community/stats`: totals and the last day, cached (see `crate::stats`).

use http::StatusCode;

use crate::app::{App, Ctx};
use crate::auth::tokens::Caller;
use crate::http::json;
use crate::runtime::{Handler, Reply};
use crate::state::{Cached, Members};

pub struct GetStats;

impl Handler for GetStats {
    type State = Cached<Members>;
    /// Anonymous or signed in alike; a bad token is still 401.
    type Input = Option<Caller>;

    async fn handle(&self, app: &App<Self::State>, ctx: &mut Ctx, _caller: Self::Input) -> Reply {
        let (stats, _) = crate::stats::get(&app.stats_source(), &mut ctx.metrics).await?;
        let mut response = json(StatusCode::OK, &stats)?;
        response.headers_mut().insert(
            http::header::CACHE_CONTROL,
            http::HeaderValue::from_static("public, max-age=60"),
        );
        Ok(response)
    }
}
