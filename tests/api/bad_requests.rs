//! Malformed input gets a 4xx with the JSON error shape, and the server keeps serving.

use serde_json::json;

use crate::common::{Backend, TestServer};
use crate::on_both_backends;

on_both_backends!(malformed_requests_get_json_errors_and_the_server_keeps_serving);

async fn malformed_requests_get_json_errors_and_the_server_keeps_serving(backend: Backend) {
    let srv = TestServer::start_with(backend, |c| c.max_json_bytes = 64 * 1024).await;
    let (cookie, _) = srv.register("olivia", None).await;
    let http = reqwest::Client::new();
    let url = |p: &str| format!("{}{p}", srv.base);
    let send = |req: reqwest::RequestBuilder| async move {
        let res = req.send().await.unwrap();
        let status = res.status().as_u16();
        let ct = res
            .headers()
            .get("content-type")
            .map(|v| v.to_str().unwrap().to_owned());
        let id = res.headers().get("x-request-id").is_some();
        let body: serde_json::Value = res.json().await.expect("JSON error body");
        assert!(
            body["code"].is_string() && body["message"].is_string(),
            "{body}"
        );
        assert_eq!(ct.as_deref(), Some("application/json"));
        assert!(id, "every response carries a request id");
        (status, body["code"].as_str().unwrap().to_owned())
    };
    let post = |p: &str| http.post(url(p)).header("cookie", &cookie);

    let cases = vec![
        (
            "broken JSON",
            post("/api/libraries")
                .header("content-type", "application/json")
                .body("{\"name\": "),
            400,
            "invalid_json",
        ),
        (
            "wrong shape",
            post("/api/libraries")
                .header("content-type", "application/json")
                .body("[1,2]"),
            400,
            "invalid_json",
        ),
        (
            "wrong type",
            post("/api/libraries").json(&json!({ "name": 7 })),
            400,
            "invalid_json",
        ),
        (
            "bad UTF-8",
            post("/api/libraries")
                .header("content-type", "application/json")
                .body(vec![b'"', 0xff, 0xfe, b'"']),
            400,
            "invalid_json",
        ),
        (
            "not JSON",
            post("/api/libraries")
                .header("content-type", "text/plain")
                .body("name=x"),
            415,
            "unsupported_media_type",
        ),
        (
            "oversized",
            post("/api/libraries")
                .header("content-type", "application/json")
                .body(vec![b' '; 200_000]),
            413,
            "payload_too_large",
        ),
        (
            "unknown route",
            http.get(url("/api/does-not-exist")),
            404,
            "not_found",
        ),
        (
            "unknown nested",
            http.get(url("/api/libraries/x/y/z/w")),
            404,
            "not_found",
        ),
        (
            "wrong method",
            http.put(url("/api/libraries")).header("cookie", &cookie),
            405,
            "method_not_allowed",
        ),
        (
            "bad uuid",
            http.get(url("/api/libraries/123"))
                .header("cookie", &cookie),
            400,
            "invalid_parameter",
        ),
        (
            "empty name",
            post("/api/libraries").json(&json!({ "name": "  " })),
            400,
            "bad_request",
        ),
    ];
    for (what, req, status, code) in cases {
        assert_eq!(send(req).await, (status, code.to_owned()), "{what}");
    }

    // A body streamed without Content-Length is cut off at the limit as well.
    let chunks =
        futures_util::stream::iter((0..40).map(|_| Ok::<_, std::io::Error>(vec![b' '; 4096])));
    let req = post("/api/libraries")
        .header("content-type", "application/json")
        .body(reqwest::Body::wrap_stream(chunks));
    assert_eq!(send(req).await, (413, "payload_too_large".to_owned()));

    let wrong = http.put(url("/api/libraries")).send().await.unwrap();
    assert_eq!(wrong.headers()["allow"], "GET, POST");

    // The served OpenAPI document lists exactly the routes the router knows.
    let doc = srv.get("/api/openapi.json", "").await.json;
    let operations: usize = doc["paths"]
        .as_object()
        .unwrap()
        .values()
        .map(|item| item.as_object().unwrap().len())
        .sum();
    assert_eq!(operations, alcoves::http::routes::ROUTES.len());
    assert_eq!(doc["openapi"], "3.0.3");

    // Still serving.
    assert_eq!(srv.get("/api/health", "").await.status, 200);
    assert_eq!(
        srv.post("/api/libraries", &cookie, json!({ "name": "Fine" }))
            .await
            .status,
        201
    );
    srv.stop().await;
}
