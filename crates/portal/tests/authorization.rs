//! The portal over real HTTP on loopback, with real accounts: every route against every role,
//! sessions with their CSRF token, and agencies' API tokens.

use std::{
    collections::BTreeMap,
    sync::atomic::{AtomicUsize, Ordering},
};

use porchlight_portal::Portal;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

struct Site {
    url: String,
    portal: Portal,
    http: reqwest::Client,
    _dir: tempfile::TempDir,
}

/// Who makes a request.
#[derive(Clone, Debug)]
enum As {
    Anonymous,
    Session { cookie: String, csrf: String },
    Token(String),
}

impl Site {
    async fn start() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let portal = Portal::open(dir.path()).await.unwrap();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let app = porchlight_portal::router(portal.clone());
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        Self { url, portal, http: reqwest::Client::new(), _dir: dir }
    }

    async fn send(&self, who: &As, method: Method, path: &str, body: Option<Value>) -> (StatusCode, Value) {
        let mut request = self.http.request(method, format!("{}{path}", self.url));
        match who {
            As::Anonymous => {}
            As::Session { cookie, csrf } => {
                request = request.header("cookie", cookie).header("x-csrf-token", csrf);
            }
            As::Token(token) => request = request.bearer_auth(token),
        }
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.unwrap();
        let status = response.status();
        (status, response.json().await.unwrap_or(Value::Null))
    }

    async fn register(&self, email: &str) -> Value {
        let (status, body) = self
            .send(
                &As::Anonymous,
                Method::POST,
                "/v1/portal/accounts",
                Some(json!({"email": email, "password": "correct horse battery", "display_name": email})),
            )
            .await;
        assert_eq!(status, 201, "{body}");
        body
    }

    /// Sign in; the session cookie and the CSRF token.
    async fn sign_in(&self, email: &str, password: &str) -> As {
        let response = self
            .http
            .post(format!("{}/v1/portal/sessions", self.url))
            .json(&json!({"email": email, "password": password}))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 201);
        let cookie = response.headers()["set-cookie"].to_str().unwrap().to_owned();
        for flag in ["HttpOnly", "Secure", "SameSite=Strict"] {
            assert!(cookie.contains(flag), "{cookie}");
        }
        let body: Value = response.json().await.unwrap();
        As::Session {
            cookie: cookie.split(';').next().unwrap().to_owned(),
            csrf: body["csrf_token"].as_str().unwrap().to_owned(),
        }
    }

    async fn ok(&self, who: &As, method: Method, path: &str, body: Value) -> Value {
        let (status, answer) = self.send(who, method, path, Some(body)).await;
        assert!(status.is_success(), "{path}: {status} {answer}");
        answer
    }
}

static FRESH: AtomicUsize = AtomicUsize::new(0);

/// Everyone the matrix asks as.
struct Cast {
    who: BTreeMap<&'static str, As>,
}

async fn cast(site: &Site) -> Cast {
    site.portal
        .make_platform_admin("admin@city.example", "Admin", "the platform's own passphrase")
        .await
        .unwrap();
    let admin = site.sign_in("admin@city.example", "the platform's own passphrase").await;
    for (id, name) in [("north-pd", "North PD"), ("south-pd", "South PD")] {
        site.ok(&admin, Method::POST, "/v1/portal/agencies", json!({"id": id, "name": name})).await;
        site.ok(&admin, Method::POST, &format!("/v1/portal/agencies/{id}/verify"), json!({})).await;
    }
    let mut who = BTreeMap::new();
    for email in [
        "resident@mail.example",
        "mod@city.example",
        "admin-n@north.example",
        "admin-s@south.example",
        "officer@north.example",
    ] {
        site.register(email).await;
    }
    site.ok(&admin, Method::POST, "/v1/portal/moderators", json!({"email": "mod@city.example"})).await;
    site.ok(
        &admin,
        Method::POST,
        "/v1/portal/agencies/north-pd/admins",
        json!({"email": "admin-n@north.example"}),
    )
    .await;
    site.ok(
        &admin,
        Method::POST,
        "/v1/portal/agencies/south-pd/admins",
        json!({"email": "admin-s@south.example"}),
    )
    .await;
    let north = site.sign_in("admin-n@north.example", "correct horse battery").await;
    site.ok(
        &north,
        Method::POST,
        "/v1/portal/agencies/north-pd/officers",
        json!({"email": "officer@north.example"}),
    )
    .await;
    let token = site
        .ok(
            &north,
            Method::POST,
            "/v1/portal/agencies/north-pd/tokens",
            json!({"name": "CAD bridge", "scopes": ["requests:write"], "expires_in_days": 30}),
        )
        .await;
    who.insert("anonymous", As::Anonymous);
    who.insert("resident", site.sign_in("resident@mail.example", "correct horse battery").await);
    who.insert("officer", site.sign_in("officer@north.example", "correct horse battery").await);
    who.insert("agency admin", north);
    who.insert("other agency's admin", site.sign_in("admin-s@south.example", "correct horse battery").await);
    who.insert("moderator", site.sign_in("mod@city.example", "correct horse battery").await);
    who.insert("platform admin", admin);
    who.insert("agency token", As::Token(token["token"].as_str().unwrap().to_owned()));
    Cast { who }
}

/// Every route of the portal against every role: the status each gets. A route's body names a
/// fresh resident where the call could succeed, so each success is a real one.
#[tokio::test]
async fn every_route_against_every_role() {
    let site = Site::start().await;
    let cast = cast(&site).await;
    let roles = [
        "anonymous",
        "resident",
        "officer",
        "agency admin",
        "other agency's admin",
        "moderator",
        "platform admin",
        "agency token",
    ];
    // (method, path, expected status per role, in the order of `roles`)
    let matrix: [(Method, &str, [u16; 8]); 11] = [
        (Method::GET, "/v1/portal/me", [401, 200, 200, 200, 200, 200, 200, 200]),
        (Method::GET, "/v1/portal/agencies/north-pd", [200, 200, 200, 200, 200, 200, 200, 200]),
        (Method::POST, "/v1/portal/accounts", [201, 201, 201, 201, 201, 201, 201, 201]),
        (Method::POST, "/v1/portal/moderators", [401, 403, 403, 403, 403, 403, 200, 403]),
        (Method::POST, "/v1/portal/agencies", [401, 403, 403, 403, 403, 403, 201, 403]),
        (Method::POST, "/v1/portal/agencies/north-pd/verify", [401, 403, 403, 403, 403, 403, 200, 403]),
        (Method::POST, "/v1/portal/agencies/north-pd/admins", [401, 403, 403, 403, 403, 403, 200, 403]),
        (Method::GET, "/v1/portal/agencies/north-pd/officers", [401, 403, 403, 200, 403, 403, 403, 403]),
        (Method::POST, "/v1/portal/agencies/north-pd/officers", [401, 403, 403, 200, 403, 403, 403, 403]),
        (Method::POST, "/v1/portal/agencies/north-pd/tokens", [401, 403, 403, 201, 403, 403, 403, 403]),
        (
            Method::DELETE,
            "/v1/portal/agencies/north-pd/tokens/{token}",
            [401, 403, 403, 204, 403, 403, 403, 403],
        ),
    ];
    let north = cast.who["agency admin"].clone();
    let mut wrong = Vec::new();
    for (method, path, expected) in &matrix {
        for (role, want) in roles.iter().zip(expected) {
            let n = FRESH.fetch_add(1, Ordering::Relaxed);
            let fresh = format!("fresh{n}@mail.example");
            let mut path = path.to_string();
            let body = match path.as_str() {
                "/v1/portal/accounts" => {
                    json!({"email": fresh, "password": "correct horse battery", "display_name": "Fresh"})
                }
                "/v1/portal/agencies" => json!({"id": format!("agency-{n}"), "name": "New PD"}),
                "/v1/portal/agencies/north-pd/tokens" => {
                    json!({"name": "t", "scopes": ["clips:read"], "expires_in_days": 1})
                }
                p if p.ends_with("{token}") => {
                    // A token of its own for each try, made by the agency's administrator.
                    let made = site
                        .ok(
                            &north,
                            Method::POST,
                            "/v1/portal/agencies/north-pd/tokens",
                            json!({"name": "t", "scopes": ["clips:read"], "expires_in_days": 1}),
                        )
                        .await;
                    path = path.replace("{token}", made["id"].as_str().unwrap());
                    json!({})
                }
                _ => {
                    site.register(&fresh).await;
                    json!({"email": fresh})
                }
            };
            let (status, answer) = site.send(&cast.who[*role], method.clone(), &path, Some(body)).await;
            if status.as_u16() != *want {
                wrong.push(format!("{method} {path} as {role}: {status}, expected {want}: {answer}"));
            }
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

/// A session's changes need its CSRF token; reads do not. Signing out ends the session.
#[tokio::test]
async fn changes_need_the_csrf_token_and_sign_out_ends_the_session() {
    let site = Site::start().await;
    site.portal
        .make_platform_admin("admin@city.example", "Admin", "the platform's own passphrase")
        .await
        .unwrap();
    let As::Session { cookie, csrf } =
        site.sign_in("admin@city.example", "the platform's own passphrase").await
    else {
        unreachable!()
    };
    let without = As::Session { cookie: cookie.clone(), csrf: String::new() };
    let forged = As::Session { cookie: cookie.clone(), csrf: "made-up".into() };
    for who in [&without, &forged] {
        let (status, body) = site
            .send(who, Method::POST, "/v1/portal/agencies", Some(json!({"id": "x-pd", "name": "X"})))
            .await;
        assert_eq!((status.as_u16(), body["error"]["code"].as_str()), (403, Some("csrf_token_missing")));
    }
    assert_eq!(site.send(&without, Method::GET, "/v1/portal/me", None).await.0, 200);
    let session = As::Session { cookie, csrf };
    assert_eq!(site.send(&session, Method::DELETE, "/v1/portal/sessions", None).await.0, 204);
    assert_eq!(site.send(&session, Method::GET, "/v1/portal/me", None).await.0, 401);
}

/// A wrong password and an unknown address get the same answer; passwords are never stored.
#[tokio::test]
async fn sign_in_refusals_say_nothing_about_who_exists() {
    let site = Site::start().await;
    site.register("resident@mail.example").await;
    let mut answers = Vec::new();
    for (email, password) in
        [("resident@mail.example", "wrong password here"), ("nobody@mail.example", "correct horse battery")]
    {
        answers.push(
            site.send(
                &As::Anonymous,
                Method::POST,
                "/v1/portal/sessions",
                Some(json!({"email": email, "password": password})),
            )
            .await,
        );
    }
    assert_eq!(answers[0], answers[1]);
    assert_eq!(answers[0].0, 401);
    let (status, body) = site
        .send(
            &As::Anonymous,
            Method::POST,
            "/v1/portal/accounts",
            Some(json!({"email": "resident@mail.example", "password": "correct horse battery", "display_name": "Again"})),
        )
        .await;
    assert_eq!((status.as_u16(), body["error"]["code"].as_str()), (409, Some("email_taken")));
    let short = site
        .send(
            &As::Anonymous,
            Method::POST,
            "/v1/portal/accounts",
            Some(json!({"email": "new@mail.example", "password": "short", "display_name": "New"})),
        )
        .await;
    assert_eq!(short.0, 400);
    assert!(short.1["error"]["message"].as_str().unwrap().starts_with("password:"));
}

/// Until a platform administrator verifies it, an agency's administrator can add no officer;
/// a revoked token is refused.
#[tokio::test]
async fn unverified_agencies_and_revoked_tokens_are_refused() {
    let site = Site::start().await;
    site.portal
        .make_platform_admin("admin@city.example", "Admin", "the platform's own passphrase")
        .await
        .unwrap();
    let admin = site.sign_in("admin@city.example", "the platform's own passphrase").await;
    site.ok(&admin, Method::POST, "/v1/portal/agencies", json!({"id": "east-pd", "name": "East PD"})).await;
    site.register("admin-e@east.example").await;
    site.register("officer@east.example").await;
    site.ok(
        &admin,
        Method::POST,
        "/v1/portal/agencies/east-pd/admins",
        json!({"email": "admin-e@east.example"}),
    )
    .await;
    let east = site.sign_in("admin-e@east.example", "correct horse battery").await;
    let add = json!({"email": "officer@east.example"});
    let (status, body) =
        site.send(&east, Method::POST, "/v1/portal/agencies/east-pd/officers", Some(add.clone())).await;
    assert_eq!((status.as_u16(), body["error"]["code"].as_str()), (403, Some("agency_not_verified")));
    site.ok(&admin, Method::POST, "/v1/portal/agencies/east-pd/verify", json!({})).await;
    let officer = site.ok(&east, Method::POST, "/v1/portal/agencies/east-pd/officers", add).await;
    assert_eq!((officer["role"].as_str(), officer["agency"].as_str()), (Some("officer"), Some("east-pd")));

    let token = site
        .ok(
            &east,
            Method::POST,
            "/v1/portal/agencies/east-pd/tokens",
            json!({"name": "bridge", "scopes": ["clips:read", "requests:write"], "expires_in_days": 7}),
        )
        .await;
    let bearer = As::Token(token["token"].as_str().unwrap().to_owned());
    let (status, me) = site.send(&bearer, Method::GET, "/v1/portal/me", None).await;
    assert_eq!(
        (status.as_u16(), me["kind"].as_str(), me["agency"].as_str()),
        (200, Some("agency_token"), Some("east-pd"))
    );
    let id = token["id"].as_str().unwrap();
    assert_eq!(
        site.send(&east, Method::DELETE, &format!("/v1/portal/agencies/east-pd/tokens/{id}"), None).await.0,
        204
    );
    let (status, body) = site.send(&bearer, Method::GET, "/v1/portal/me", None).await;
    assert_eq!((status.as_u16(), body["error"]["code"].as_str()), (401, Some("token_invalid")));
    // The officer, removed, is a resident again.
    let officer_id = officer["id"].as_str().unwrap();
    assert_eq!(
        site.send(&east, Method::DELETE, &format!("/v1/portal/agencies/east-pd/officers/{officer_id}"), None)
            .await
            .0,
        204
    );
    let members = site.send(&east, Method::GET, "/v1/portal/agencies/east-pd/officers", None).await.1;
    assert_eq!(members["members"].as_array().unwrap().len(), 1, "{members}");
}
