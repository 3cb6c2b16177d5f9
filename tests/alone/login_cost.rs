//! What a login costs, in process: an unknown email costs exactly what a wrong password costs
//! (account enumeration by timing, shown structurally). A test binary of its own: it reads the
//! process-wide count of argon2 verifications, which other tests' in-process logins would move
//! if `cargo test` ran them as threads of the same process.
// The handlers' futures (extractors, retry budget, SDK calls) nest deeper than the
// compiler's default layout limit when awaited in process.
#![recursion_limit = "256"]

/// Named `auth::…`, so that `cargo test auth` finds it with the other auth tests.
mod auth {
    use rota_api::handlers::auth;
    use rota_api::state::{DbAndTokens, WithRedis};
    use rota_tests::*;
    use serde_json::json;

    /// One login attempt in process from a fresh client IP: the reply, the argon2 verifications,
    /// the DynamoDB calls it made and their sequential round trips.
    async fn attempt(
        app: &rota_api::App<WithRedis<DbAndTokens>>,
        calls: &DynamoCalls,
        email: &str,
        password: &str,
    ) -> (HttpReply, u64, Vec<String>, u32) {
        let event = with_body(
            sample_event("auth-login"),
            &json!({"email": email, "password": password}),
        );
        calls.take();
        calls.take_round_trips();
        let before = rota_api::auth::password::verifications();
        let reply = call(app, &auth::Login, &event).await;
        let verified = rota_api::auth::password::verifications() - before;
        (reply, verified, calls.take(), calls.take_round_trips())
    }

    #[tokio::test]
    async fn an_unknown_email_costs_exactly_what_a_wrong_password_costs() {
        // Timing is not asserted (wall clock is noise in tests); the work is. Both paths must run
        // the same argon2 verification count and the same DynamoDB calls, and answer byte for byte
        // alike apart from the request id. (This is the only in-process login of this test binary,
        // so the process-wide verification counter sees only it.)
        let (db, calls) = counting_dynamodb_client().await;
        let base = app().await;
        let tokens = in_process_token_keys();
        let cache = stack().cache();
        let app = rota_api::App::new(
            base.config.clone(),
            WithRedis(DbAndTokens { db, tokens }),
            Some(cache),
        );

        let (email, registration) = registered(&app).await;

        let (wrong, wrong_verified, wrong_calls, wrong_trips) =
            attempt(&app, &calls, &email, "not-the-password").await;
        let (unknown, unknown_verified, unknown_calls, unknown_trips) =
            attempt(&app, &calls, &unique_email(), "not-the-password").await;

        assert_eq!((wrong_verified, unknown_verified), (1, 1));
        assert_eq!(wrong_calls, ["GetItem"]);
        assert_eq!(unknown_calls, wrong_calls);
        assert_eq!((wrong_trips, unknown_trips), (1, 1));

        let (mut a, mut b) = (wrong.problem(401), unknown.problem(401));
        a.as_object_mut().unwrap().remove("request_id");
        b.as_object_mut().unwrap().remove("request_id");
        assert_eq!(a, b);
        let headers = |r: &HttpReply| {
            let mut h: Vec<(String, String)> = r
                .headers
                .iter()
                .filter(|(k, _)| k.as_str() != "x-request-id")
                .map(|(k, v)| (k.to_string(), v.to_str().unwrap().to_owned()))
                .collect();
            h.sort();
            h
        };
        assert_eq!(headers(&wrong), headers(&unknown));

        // For contrast, the right password: the same first steps, then the profile and a session.
        let (ok, ok_verified, ok_calls, ok_trips) =
            attempt(&app, &calls, &email, "correct horse battery").await;
        assert_eq!(ok.status, 200, "{}", ok.text);
        assert_eq!(ok_verified, 1);
        assert_eq!(ok.json()["user"], registration["user"]);
        // Issue 13: at most two sequential DynamoDB round trips. The credential read comes first
        // (the hash must be verified before anything is written); then the profile read and the
        // session put go out together, in either order.
        assert_eq!(ok_calls.len(), 3, "{ok_calls:?}");
        assert_eq!(ok_calls[0], "GetItem");
        let mut second = ok_calls[1..].to_vec();
        second.sort();
        assert_eq!(second, ["GetItem", "PutItem"]);
        assert_eq!(ok_trips, 2, "sequential DynamoDB round trips of a login");
    }
}
