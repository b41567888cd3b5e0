//! What the portal's tests share: a portal served on loopback, callers of each kind, and a
//! cast of accounts in every role.

// Each test binary compiles this module and uses a part of it.
#![allow(dead_code)]

use std::{
    collections::BTreeMap,
    sync::atomic::{AtomicUsize, Ordering},
};

pub use porchlight_db::Backend;
use porchlight_db::testing::TestLocation;
use porchlight_portal::Portal;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

pub struct Site {
    pub url: String,
    pub portal: Portal,
    pub http: reqwest::Client,
    _data: (tempfile::TempDir, TestLocation),
}

/// Who makes a request.
#[derive(Clone, Debug)]
pub enum As {
    Anonymous,
    Session { cookie: String, csrf: String },
    Token(String),
}

impl Site {
    /// A portal with its tables on `backend`.
    pub async fn start(backend: Backend) -> Self {
        Self::start_with(backend, |p| p).await
    }

    /// Start with the portal adjusted by `adjust` (shorter link lifetimes, say).
    pub async fn start_with(backend: Backend, adjust: impl FnOnce(Portal) -> Portal) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let location = TestLocation::new(backend, dir.path()).await;
        let portal = adjust(Portal::connect(dir.path(), &location.location).await.unwrap());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let app: axum::Router = porchlight_portal::router(portal.clone()).into();
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        Self { url, portal, http: reqwest::Client::new(), _data: (dir, location) }
    }

    pub async fn send(
        &self,
        who: &As,
        method: Method,
        path: &str,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
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

    pub async fn register(&self, email: &str) -> Value {
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
    pub async fn sign_in(&self, email: &str, password: &str) -> As {
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

    pub async fn ok(&self, who: &As, method: Method, path: &str, body: Value) -> Value {
        let (status, answer) = self.send(who, method, path, Some(body)).await;
        assert!(status.is_success(), "{path}: {status} {answer}");
        answer
    }
}

pub static FRESH: AtomicUsize = AtomicUsize::new(0);

/// Everyone the matrix asks as.
pub struct Cast {
    pub who: BTreeMap<&'static str, As>,
}

pub async fn cast(site: &Site) -> Cast {
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

/// A fresh number, for addresses and ids no other call has used.
pub fn fresh() -> usize {
    FRESH.fetch_add(1, Ordering::Relaxed)
}

/// A valid request's body: a 300 m circle round (lat, lon), the hour that ended an hour ago.
pub fn request_body(lat: f64, lon: f64, description: &str) -> Value {
    let now = chrono::Utc::now();
    json!({
        "case_number": format!("2026-{}", fresh()),
        "incident_type": "burglary",
        "area": {"lat": lat, "lon": lon, "radius_m": 300},
        "window_start": now - chrono::Duration::hours(2),
        "window_end": now - chrono::Duration::hours(1),
        "description": description,
        "contact": "Detective Ruiz, 414-555-0100",
    })
}

/// Register a camera for `owner` at (lat, lon); its id.
pub async fn camera(site: &Site, owner: &As, lat: f64, lon: f64) -> String {
    let made = site
        .ok(owner, Method::POST, "/v1/portal/cameras", json!({"name": "Porch", "lat": lat, "lon": lon}))
        .await;
    made["id"].as_str().unwrap().to_owned()
}

/// A request posted by `officer` for north-pd round (lat, lon) and approved by `moderator`;
/// its id.
pub async fn approved_request(
    site: &Site,
    officer: &As,
    moderator: &As,
    lat: f64,
    lon: f64,
    description: &str,
) -> String {
    let posted = site
        .ok(
            officer,
            Method::POST,
            "/v1/portal/agencies/north-pd/requests",
            request_body(lat, lon, description),
        )
        .await;
    let id = posted["id"].as_str().unwrap().to_owned();
    site.ok(moderator, Method::POST, &format!("/v1/portal/requests/{id}/approve"), json!({})).await;
    id
}
