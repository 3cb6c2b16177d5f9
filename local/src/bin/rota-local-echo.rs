//! `rota-local-echo`: a stand-in Lambda function for rota-local's own tests: a normal `lambda_http` function that
//! echoes what it received, and misbehaves on request (`/sleep?ms=`, `/crash`, `/error`).

use std::collections::BTreeMap;

use lambda_http::request::RequestContext;
use lambda_http::{Body, Error, Request, RequestExt, Response, run, service_fn};

async fn handler(req: Request) -> Result<Response<Body>, Error> {
    let path = req.uri().path().to_string();
    // One JSON log line and one EMF metric line per request, like the real functions.
    println!(r#"{{"level":"INFO","message":"echo","path":{path:?}}}"#);
    println!(
        r#"{{"_aws":{{"Timestamp":0,"CloudWatchMetrics":[{{"Namespace":"Echo","Dimensions":[[]],"Metrics":[{{"Name":"Hits","Unit":"Count"}}]}}]}},"Hits":1}}"#
    );
    eprintln!("stderr line for {path}");
    match path.as_str() {
        "/sleep" => {
            let ms = req
                .query_string_parameters()
                .first("ms")
                .and_then(|m| m.parse().ok())
                .unwrap_or(0);
            tokio::time::sleep(std::time::Duration::from_millis(ms)).await;
        }
        "/crash" => std::process::exit(3),
        "/error" => return Err("handler failed".into()),
        _ => {}
    }
    let (source_ip, route_key) = match req.request_context() {
        RequestContext::ApiGatewayV2(c) => (c.http.source_ip.clone(), c.route_key.clone()),
        _ => (None, None),
    };
    let headers: BTreeMap<String, String> = req
        .headers()
        .iter()
        .map(|(k, v)| {
            (
                k.to_string(),
                String::from_utf8_lossy(v.as_bytes()).into_owned(),
            )
        })
        .collect();
    let body = match req.body() {
        Body::Text(t) => t.clone(),
        Body::Binary(b) => format!("binary:{}", b.len()),
        _ => String::new(),
    };
    let env = |k: &str| std::env::var(k).ok();
    let out = serde_json::json!({
        "method": req.method().as_str(),
        "path": path,
        "query": req.uri().query(),
        "path_params": req.path_parameters().iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect::<BTreeMap<_, _>>(),
        "headers": headers,
        "body": body,
        "source_ip": source_ip,
        "route_key": route_key,
        "pid": std::process::id(),
        "env": {
            "AWS_LAMBDA_FUNCTION_NAME": env("AWS_LAMBDA_FUNCTION_NAME"),
            "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE"),
            "AWS_LAMBDA_FUNCTION_VERSION": env("AWS_LAMBDA_FUNCTION_VERSION"),
            "AWS_REGION": env("AWS_REGION"),
            "AWS_ENDPOINT_URL": env("AWS_ENDPOINT_URL"),
            "TABLE_NAME": env("TABLE_NAME"),
            "LOG_LEVEL": env("LOG_LEVEL"),
            "EXTRA": env("EXTRA"),
            "HOME": env("HOME"),
        },
    });
    Ok(Response::builder()
        .status(200)
        .header("content-type", "application/json")
        .header("set-cookie", "a=1; Path=/")
        .header("set-cookie", "b=2")
        .body(Body::Text(out.to_string()))?)
}

#[tokio::main]
async fn main() -> Result<(), Error> {
    run(service_fn(handler)).await
}
