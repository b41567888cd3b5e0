//! Limits and hardening (issue 13). Rate limits: a client address, or an API token, over its
//! limit gets 429 with Retry-After before any work is done, and is served again once it has
//! waited; a token's requests count against the token, not the address; X-Forwarded-For is
//! believed only when the operator says a proxy sets it. Also: shedding, security headers,
//! body and header sizes, subscriptions per address and channels per subscription, the page
//! cache's freshness, and internal errors that show nothing of the server.

use std::time::Duration;

use serde_json::Value;

use crate::common::Server;

/// Send `n` requests at once to `path`, with `token` if any; the statuses and the first 429.
async fn burst(
    url: &str,
    path: &str,
    n: usize,
    header: Option<(&str, String)>,
) -> (Vec<u16>, Option<reqwest::Response>) {
    let http = reqwest::Client::new();
    let mut statuses = Vec::new();
    let mut limited = None;
    for _ in 0..n {
        let mut request = http.get(format!("{url}{path}"));
        if let Some((name, value)) = &header {
            request = request.header(*name, value);
        }
        let response = request.send().await.unwrap();
        statuses.push(response.status().as_u16());
        if response.status() == 429 && limited.is_none() {
            limited = Some(response);
        }
    }
    (statuses, limited)
}

#[tokio::test]
async fn clients_over_their_limit_are_told_when_to_come_back() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start_with_env(
        dir.path(),
        &[("PORCHLIGHT_RATE_LIMIT_IP", "5"), ("PORCHLIGHT_RATE_LIMIT_TOKEN", "3")],
    );
    // An address: a burst of twice its rate (and what refills while the burst goes on), then
    // 429s.
    let started = std::time::Instant::now();
    let (statuses, limited) = burst(&server.url, "/v1/incidents", 30, None).await;
    let refilled = (started.elapsed().as_secs_f64() * 5.0).ceil() as usize;
    let served = statuses.iter().filter(|s| **s == 200).count();
    assert!((10..=10 + refilled).contains(&served), "{statuses:?}");
    assert_eq!(statuses.iter().filter(|s| **s == 429).count(), 30 - served, "{statuses:?}");
    let limited = limited.unwrap();
    let wait: u64 = limited.headers()["retry-after"].to_str().unwrap().parse().unwrap();
    assert!((1..=2).contains(&wait), "{wait}");
    let body: Value = limited.json().await.unwrap();
    assert_eq!(body["error"]["code"], "rate_limited", "{body}");
    // Spoofing X-Forwarded-For does not escape it.
    let (statuses, _) =
        burst(&server.url, "/healthz", 3, Some(("x-forwarded-for", "203.0.113.9".into()))).await;
    assert_eq!(statuses, [429, 429, 429]);

    // A token has its own bucket, whatever the address's.
    let bearer = |t: &str| Some(("authorization", format!("Bearer {t}")));
    let started = std::time::Instant::now();
    let (statuses, _) = burst(&server.url, "/v1/incidents", 10, bearer("token-a")).await;
    let refilled = (started.elapsed().as_secs_f64() * 3.0).ceil() as usize;
    let limited = statuses.iter().filter(|s| **s == 429).count();
    assert!((4usize.saturating_sub(refilled)..=4).contains(&limited) && limited > 0, "{statuses:?}");
    let (statuses, _) = burst(&server.url, "/v1/incidents", 1, bearer("token-b")).await;
    assert_eq!(statuses, [200]);

    // Served again after waiting.
    tokio::time::sleep(Duration::from_secs(wait) + Duration::from_millis(200)).await;
    let (statuses, _) = burst(&server.url, "/healthz", 1, None).await;
    assert_eq!(statuses, [200]);
    drop(server);

    // Behind a proxy the operator names, each forwarded address has its own bucket.
    let server = Server::start_with_env(
        dir.path(),
        &[("PORCHLIGHT_RATE_LIMIT_IP", "1"), ("PORCHLIGHT_TRUST_FORWARDED_FOR", "true")],
    );
    for client in ["203.0.113.1", "203.0.113.2"] {
        let forwarded = Some(("x-forwarded-for", format!("198.51.100.7, {client}")));
        let (statuses, _) = burst(&server.url, "/healthz", 3, forwarded).await;
        assert_eq!(statuses, [200, 200, 429], "{client}");
    }
}

/// A subscription may have a few live streams open at once (SSE and WebSocket together), not a
/// crowd: the next is refused with 429 until one closes.
#[tokio::test]
async fn a_subscription_has_at_most_five_live_streams_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path());
    let http = reqwest::Client::new();
    let id = crate::common::subscribe(
        &http,
        &server.url,
        serde_json::json!({"lat": 43.11, "lon": -87.95, "radius_m": 500, "categories": []}),
    )
    .await;
    let stream = |http: reqwest::Client| {
        let url = format!("{}/v1/subscriptions/{id}/alerts/stream", server.url);
        async move { http.get(url).send().await.unwrap() }
    };
    let mut open = Vec::new();
    for _ in 0..4 {
        let response = stream(http.clone()).await;
        assert_eq!(response.status(), 200);
        open.push(response);
    }
    let socket_url = format!("{}/v1/subscriptions/{id}/alerts/socket", server.url.replace("http", "ws"));
    let (socket, _) = tokio_tungstenite::connect_async(&socket_url).await.unwrap();
    let refused = stream(http.clone()).await;
    assert_eq!(refused.status(), 429);
    let body: Value = refused.json().await.unwrap();
    assert_eq!(body["error"]["code"], "too_many_streams");
    assert!(tokio_tungstenite::connect_async(&socket_url).await.is_err(), "the socket counts too");
    // One closes: another may open.
    drop(socket);
    crate::common::eventually(10, "a stream to be let in again", || {
        let next = stream(http.clone());
        async move {
            let response = next.await;
            (response.status() == 200).then_some(response)
        }
    })
    .await;
}

/// More requests at once than the server answers at once: the rest are shed at once with 503
/// and Retry-After (none waits until its client gives up), and the server answers normally
/// as soon as the flood stops.
#[tokio::test]
async fn a_flood_is_shed_at_once_and_the_server_recovers() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let sample = dir.path().join("sample.csv");
    let text = std::fs::read_to_string(crate::common::repo().join(crate::common::MILWAUKEE_CSV)).unwrap();
    std::fs::write(&sample, text.lines().take(400).collect::<Vec<_>>().join("\n")).unwrap();
    crate::common::import(&data, "milwaukee", "examples/milwaukee.toml", &sample);
    let server = Server::start_with_env(
        &data,
        &[
            ("PORCHLIGHT_MAX_IN_FLIGHT", "2"),
            ("PORCHLIGHT_RATE_LIMIT_IP", "0"),
            ("PORCHLIGHT_RATE_LIMIT_TOKEN", "0"),
        ],
    );
    let http = reqwest::Client::builder().timeout(Duration::from_secs(20)).build().unwrap();
    let started = std::time::Instant::now();
    let requests = (0..60).map(|_| {
        let (http, url) = (http.clone(), format!("{}/v1/incidents?limit=500", server.url));
        tokio::spawn(async move {
            let response = http.get(url).send().await.expect("an answer, not a timeout");
            let retry = response.headers().get("retry-after").map(|v| v.to_str().unwrap().to_owned());
            (response.status().as_u16(), retry)
        })
    });
    let answers: Vec<(u16, Option<String>)> =
        futures_util::future::join_all(requests).await.into_iter().map(|r| r.unwrap()).collect();
    let shed: Vec<_> = answers.iter().filter(|(s, _)| *s == 503).collect();
    let served = answers.iter().filter(|(s, _)| *s == 200).count();
    assert!(!shed.is_empty() && served > 0, "{answers:?}");
    assert_eq!(shed.len() + served, answers.len(), "{answers:?}");
    assert!(shed.iter().all(|(_, retry)| retry.as_deref() == Some("1")), "{shed:?}");
    assert!(started.elapsed() < Duration::from_secs(15), "{:?}", started.elapsed());
    // Recovered.
    let after = http.get(format!("{}/v1/incidents?limit=500", server.url)).send().await.unwrap();
    assert_eq!(after.status(), 200);
    println!("flood: {served} served, {} shed of {}", shed.len(), answers.len());
}

/// Every answer carries the security headers, whatever its kind (a page, JSON, an error, a
/// refusal); the pages carry a Content-Security-Policy without inline scripts or styles; a
/// body larger than the API takes is refused with 413, and the server goes on (issue 13).
#[tokio::test]
async fn every_answer_carries_the_security_headers_and_big_bodies_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start_with_env(dir.path(), &[("PORCHLIGHT_RATE_LIMIT_IP", "3")]);
    let http = reqwest::Client::new();
    let mut answers = Vec::new();
    for path in ["/", "/healthz", "/v1/incidents", "/openapi.json", "/no/such/route", "/v1/portal/me"] {
        answers.push((path, http.get(format!("{}{path}", server.url)).send().await.unwrap()));
    }
    // The limit is reached by now: a 429 carries them too.
    let limited = http.get(format!("{}/healthz", server.url)).send().await.unwrap();
    assert_eq!(limited.status(), 429);
    answers.push(("429", limited));
    for (what, answer) in &answers {
        let header = |name: &str| answer.headers().get(name).map(|v| v.to_str().unwrap().to_owned());
        assert_eq!(header("x-content-type-options").as_deref(), Some("nosniff"), "{what}");
        assert_eq!(header("referrer-policy").as_deref(), Some("no-referrer"), "{what}");
        assert_eq!(header("x-frame-options").as_deref(), Some("DENY"), "{what}");
        assert_eq!(header("cross-origin-opener-policy").as_deref(), Some("same-origin"), "{what}");
    }
    let page_csp = answers[0].1.headers()["content-security-policy"].to_str().unwrap();
    assert!(!page_csp.contains("unsafe-inline") && page_csp.contains("default-src 'self'"), "{page_csp}");
    drop(server);

    let server = Server::start(dir.path());
    let big =
        format!("{{\"lat\": 43.1, \"lon\": -87.9, \"radius_m\": 500, \"pad\": \"{}\"}}", "x".repeat(3 << 20));
    let refused = http
        .post(format!("{}/v1/subscriptions", server.url))
        .header("content-type", "application/json")
        .body(big)
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 413);
    let body: Value = refused.json().await.unwrap();
    assert_eq!(body["error"]["code"], "body_too_large");
    // The server goes on (on a new connection: it closes the one whose body it would not read).
    let fresh = reqwest::Client::new();
    assert_eq!(fresh.get(format!("{}/healthz", server.url)).send().await.unwrap().status(), 200);
}

porchlight_db::test_on_both! {
    #[tokio::test]
    /// The incident pages are kept a moment for the crowd (porchlight-http's cache): a call
    /// pushed to this server shows at once, though the same page was just read; calls another
    /// process stored show once the kept page is a second old; an unchanged page is a 304.
    async fn kept_pages_show_changes_at_once_or_within_a_second(backend) {
        use crate::common::{MILWAUKEE_CSV, eventually, get_json, import, milwaukee_without_calls};
        use crate::common::{new_push_key, repo, signed_push_as};
        let (dir, data, _db) = milwaukee_without_calls(backend).await;
        let key = new_push_key(&data);
        let server = Server::start(&data);
        let http = reqwest::Client::new();
        let list = format!("{}/v1/incidents?limit=50", server.url);
        let count = |page: Value| page["incidents"].as_array().unwrap().len();
        assert_eq!(count(get_json(&http, &list).await), 0);
        let body = serde_json::json!({"records": [
            {"incident_id": "1211372", "received_at": "2018-05-01T00:10:28-05:00", "call_type": "TRBL W/SUBJ",
             "status": "Dispatched", "address": "5237 N 35TH ST,MKE", "latitude": 43.1127987, "longitude": -87.9567415}
        ]});
        let now = chrono::Utc::now().timestamp();
        let pushed =
            signed_push_as(&format!("{}/v1/agencies/milwaukee/calls", server.url), "application/json", &key, now, &body.to_string())
                .await;
        assert_eq!(pushed.status(), 200);
        assert_eq!(count(get_json(&http, &list).await), 1, "this server's own change shows at once");

        // Another process stores more calls.
        let sample = dir.path().join("more.csv");
        let csv = std::fs::read_to_string(repo().join(MILWAUKEE_CSV)).unwrap();
        std::fs::write(&sample, csv.lines().take(11).collect::<Vec<_>>().join("\n")).unwrap();
        import(&data, "milwaukee", "examples/milwaukee.toml", &sample);
        let (http2, list2) = (http.clone(), list.clone());
        eventually(10, "another process's calls in the list", || {
            let (http, list) = (http2.clone(), list2.clone());
            async move { (count(get_json(&http, &list).await) > 1).then_some(()) }
        })
        .await;

        // Unchanged: 304 for the ETag it was given.
        let page = http.get(&list).send().await.unwrap();
        let etag = page.headers()["etag"].to_str().unwrap().to_owned();
        let again = http.get(&list).header("if-none-match", &etag).send().await.unwrap();
        assert_eq!(again.status(), 304);
        assert_eq!(again.headers()["etag"].to_str().unwrap(), etag);
    }
}

#[tokio::test]
/// Header fields past 16 KB together are refused with 431 and a named reason, as are more
/// than 100 fields (by the HTTP server itself); ordinary requests are untouched.
async fn oversized_headers_are_refused_with_431() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(&dir.path().join("data"));
    let http = reqwest::Client::new();
    let url = format!("{}/v1/agencies", server.url);
    let big = http.get(&url).header("cookie", "a".repeat(20 * 1024)).send().await.unwrap();
    assert_eq!(big.status(), 431);
    assert!(big.headers().contains_key("x-content-type-options"), "security headers on a refusal too");
    let body: Value = big.json().await.unwrap();
    assert_eq!(body["error"]["code"], "headers_too_large");
    let mut many = http.get(&url);
    for i in 0..120 {
        many = many.header(format!("x-field-{i}"), "1");
    }
    let many = many.send().await.unwrap();
    assert_eq!(many.status(), 431);
    // Just under the limit is fine.
    let fine = http.get(&url).header("cookie", "a".repeat(15 * 1024)).send().await.unwrap();
    assert_eq!(fine.status(), 200);
}

#[tokio::test]
/// Subscriptions have no accounts, so what one client holds is bounded by how many each
/// address may make an hour (20 by default; 3 here), all at once if it likes: past it 429
/// `too_many_subscriptions` with Retry-After, while another address still can. A subscription
/// holds at most 10 channels: the 11th is 409 `too_many_channels`.
async fn subscriptions_per_address_and_channels_per_subscription_are_bounded() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start_with_env(
        &dir.path().join("data"),
        &[("PORCHLIGHT_SUBSCRIPTIONS_PER_HOUR", "3"), ("PORCHLIGHT_TRUST_FORWARDED_FOR", "true")],
    );
    let http = reqwest::Client::new();
    let make = |from: &'static str| {
        http.post(format!("{}/v1/subscriptions", server.url))
            .header("x-forwarded-for", from)
            .json(&serde_json::json!({"lat": 43.1, "lon": -87.9, "radius_m": 500}))
            .send()
    };
    let mut ids = Vec::new();
    for _ in 0..3 {
        let made = make("192.0.2.1").await.unwrap();
        assert_eq!(made.status(), 201);
        ids.push(made.json::<Value>().await.unwrap()["id"].as_str().unwrap().to_owned());
    }
    let refused = make("192.0.2.1").await.unwrap();
    assert_eq!(refused.status(), 429);
    let wait: u64 = refused.headers()["retry-after"].to_str().unwrap().parse().unwrap();
    assert!((60..=1200).contains(&wait), "one subscription comes back every 20 minutes: {wait}");
    let body: Value = refused.json().await.unwrap();
    assert_eq!(body["error"]["code"], "too_many_subscriptions");
    assert_eq!(make("192.0.2.2").await.unwrap().status(), 201, "another address");
    // Reading is not making: the address's reads go on.
    let read = http.get(format!("{}/v1/subscriptions/{}", server.url, ids[0])).send().await.unwrap();
    assert_eq!(read.status(), 200);

    let channels = format!("{}/v1/subscriptions/{}/channels", server.url, ids[0]);
    for n in 0..11 {
        let added = http
            .post(&channels)
            .json(&serde_json::json!({"kind": "webhook", "url": format!("http://127.0.0.1:9/hook/{n}")}))
            .send()
            .await
            .unwrap();
        let status = added.status().as_u16();
        let body: Value = added.json().await.unwrap();
        match n {
            0..10 => assert_eq!(status, 201, "{body}"),
            _ => assert_eq!(
                (status, body["error"]["code"].as_str()),
                (409, Some("too_many_channels")),
                "{body}"
            ),
        }
    }
}

porchlight_db::test_on_both! {
    #[tokio::test]
    /// When the database fails under it, the server answers 500 `internal` and says nothing
    /// of why: no SQL, no table, no database, no path. (The reason goes to its log.)
    async fn an_internal_error_shows_nothing_of_the_server(backend) {
        let (_dir, data, _db) = crate::common::milwaukee_without_calls(backend).await;
        let server = Server::start(&data);
        let http = reqwest::Client::new();
        let list = format!("{}/v1/incidents", server.url);
        assert_eq!(http.get(&list).send().await.unwrap().status(), 200);
        // Pull a table out from under it.
        let mut conn = crate::common::store_connection_for_writing(&data).await;
        let cascade = if backend == crate::common::Backend::Postgres { " CASCADE" } else { "" };
        sqlx::query(sqlx::AssertSqlSafe(format!("DROP TABLE incident_versions{cascade}")))
            .execute(&mut conn)
            .await
            .unwrap();
        // Another query than the one just kept (the page cache), so the database is asked.
        let failed = http.get(format!("{list}?limit=7")).send().await.unwrap();
        assert_eq!(failed.status(), 500);
        let text = failed.text().await.unwrap();
        let body: Value = serde_json::from_str(&text).unwrap();
        assert_eq!(body["error"]["code"], "internal", "{text}");
        let lower = text.to_lowercase();
        for inside in ["incident_versions", "sql", "select", "table", "postgres", "porchlight.db", "/tmp"] {
            assert!(!lower.contains(inside), "{inside} in {text}");
        }
    }
}
