//! The HTTP API as the gateway serves it: every route with the function behind it, and the
//! throttling of each route key.

use super::model::{
    ACCOUNT_BURST_LIMIT, ACCOUNT_RATE_LIMIT, DEFAULT_ROUTE_KEY, HttpRoute, Template, Throttle,
};

/// A route with the function behind it, as returned by [`Template::routes`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RouteInfo {
    /// Upper-case method (`ANY` for any method, and for `$default`).
    pub method: String,
    /// Path, or `$default` for the catch-all route.
    pub path: String,
    /// Logical id of the function.
    pub function: String,
    /// Short name of the function ([`Function::name`](super::model::Function::name)): its
    /// handler, which names its sample event and log file.
    pub name: String,
}

impl RouteInfo {
    /// `"METHOD /path"`, or `$default`.
    pub fn route_key(&self) -> String {
        HttpRoute {
            method: self.method.clone(),
            path: self.path.clone(),
        }
        .route_key()
    }

    /// Whether this is the `$default` (catch-all) route.
    pub fn is_default(&self) -> bool {
        self.path == DEFAULT_ROUTE_KEY
    }
}

impl Template {
    /// Every HTTP API route with its function, in template order (functions are ordered by
    /// logical id). Includes the `$default` route if declared (see [`RouteInfo::is_default`]).
    pub fn routes(&self) -> Vec<RouteInfo> {
        self.functions
            .iter()
            .flat_map(|f| {
                f.http_routes().map(|r| RouteInfo {
                    method: r.method.clone(),
                    path: r.path.clone(),
                    function: f.logical_id.clone(),
                    name: f.name().to_string(),
                })
            })
            .collect()
    }

    /// Effective throttling of a route key (`"POST /api/auth/login"` or `$default`): the route's
    /// settings, else the API's `DefaultRouteSettings`, else the account-level limits.
    pub fn throttle_for(&self, route_key: &str) -> Throttle {
        let route = self
            .http_api
            .route_settings
            .get(&normalize_route_key(route_key))
            .copied()
            .unwrap_or_default();
        let default = self.http_api.default_route_settings;
        Throttle {
            rate: route
                .rate_limit
                .or(default.rate_limit)
                .unwrap_or(ACCOUNT_RATE_LIMIT),
            burst: route
                .burst_limit
                .or(default.burst_limit)
                .unwrap_or(ACCOUNT_BURST_LIMIT),
        }
    }
}

/// `"post   /a"` → `"POST /a"`; `$default` stays.
pub fn normalize_route_key(key: &str) -> String {
    let key = key.trim();
    match key.split_once(char::is_whitespace) {
        Some((method, path)) => format!("{} {}", method.to_ascii_uppercase(), path.trim()),
        None => key.to_string(),
    }
}
