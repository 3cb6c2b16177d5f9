//! Health checks, the OpenAPI document and the `$default` route.

use std::time::Duration;

use http::{StatusCode, header};
use lambda_http::{Body, Response};
use serde_json::json;

use crate::app::{App, Ctx};
use crate::error::ApiError;
use crate::extract::Route;
use crate::function::{Handler, Reply};
use crate::precompressed::{AcceptEncoding, OPENAPI_JSON, OPENAPI_JSON_TEXT};
use crate::state::{Db, NoClients, WithRedis};

const CHECK_TIMEOUT: Duration = Duration::from_secs(1);

pub struct HealthLive;

impl Handler for HealthLive {
    type State = NoClients;
    type Input = ();

    async fn handle(&self, _: &App<NoClients>, _: &mut Ctx, (): ()) -> Reply {
        crate::http::json(StatusCode::OK, &json!({"status": "ok"}))
    }
}

pub struct HealthReady;

impl HealthReady {
    async fn dynamodb(app: &App<WithRedis<Db>>) -> bool {
        let call = rota_store::health::probe(app.db(), app.table());
        match tokio::time::timeout(CHECK_TIMEOUT, call).await {
            Ok(Ok(_)) => true,
            Ok(Err(e)) => {
                tracing::warn!(error = %aws_sdk_dynamodb::error::DisplayErrorContext(&e), "readiness: dynamodb failed");
                false
            }
            Err(_) => {
                tracing::warn!("readiness: dynamodb timed out");
                false
            }
        }
    }

    async fn cache(app: &App<WithRedis<Db>>) -> bool {
        let Some(cache) = app.cache() else {
            return false;
        };
        match tokio::time::timeout(CHECK_TIMEOUT, cache.ping()).await {
            Ok(Ok(())) => true,
            Ok(Err(e)) => {
                tracing::warn!(error = %e, "readiness: cache failed");
                false
            }
            Err(_) => {
                tracing::warn!("readiness: cache timed out");
                false
            }
        }
    }
}

impl Handler for HealthReady {
    type State = WithRedis<Db>;
    type Input = ();

    async fn handle(&self, app: &App<Self::State>, ctx: &mut Ctx, (): ()) -> Reply {
        let (db_ok, cache_ok) = tokio::join!(Self::dynamodb(app), Self::cache(app));
        let word = |ok: bool| if ok { "ok" } else { "error" };
        let checks = json!({"dynamodb": word(db_ok), "cache": word(cache_ok)});
        if db_ok && cache_ok {
            return crate::http::json(StatusCode::OK, &json!({"status": "ok", "checks": checks}));
        }
        let failing = match (db_ok, cache_ok) {
            (false, false) => "DynamoDB and the cache",
            (false, true) => "DynamoDB",
            _ => "The cache",
        };
        let mut response = ApiError::Unavailable(failing).to_response(&ctx.request_id);
        // problem+json with the per-dependency checks as an extension member.
        let mut body: serde_json::Value = match response.body() {
            Body::Text(t) => serde_json::from_str(t).map_err(ApiError::internal)?,
            _ => json!({}),
        };
        body["checks"] = checks;
        *response.body_mut() = Body::Text(body.to_string());
        Ok(response)
    }
}

/// The OpenAPI document as JSON (`openapi.yaml`, converted by `build.rs`).
pub fn openapi_json() -> &'static str {
    OPENAPI_JSON_TEXT
}

/// `GET /openapi.json`: the document, compressed as `Accept-Encoding` allows (the docs page
/// fetches it on every first visit: 95 kB as it is, 17 kB as brotli).
pub struct OpenApi;

impl Handler for OpenApi {
    type State = NoClients;
    type Input = AcceptEncoding;

    async fn handle(&self, _: &App<NoClients>, _: &mut Ctx, accept: AcceptEncoding) -> Reply {
        let response = Response::builder()
            .status(StatusCode::OK)
            .header(header::CONTENT_TYPE, "application/json")
            .header(header::CACHE_CONTROL, "public, max-age=300");
        let (response, body) = OPENAPI_JSON.answer(
            &accept,
            || Body::Text(OPENAPI_JSON_TEXT.to_owned()),
            response,
        );
        Ok(response
            .body(body)
            .expect("static response parts are valid"))
    }
}

/// The HTTP API's `$default` route: unknown paths and wrong methods.
pub struct NotFound;

impl Handler for NotFound {
    type State = NoClients;
    type Input = Route;

    async fn handle(&self, _: &App<NoClients>, _: &mut Ctx, route: Route) -> Reply {
        Err(ApiError::NotFound(format!(
            "No route matches {} {}.",
            route.method, route.path
        )))
    }
}
