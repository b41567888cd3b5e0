//! Authorization (issue 13): every route `porchlight serve` answers, asked by every role, and
//! the status each must get. The routes come from the running server (its OpenAPI document,
//! through which every API route is registered, and the web app's own list), so a route added
//! without a row here fails the test; tests/it/openapi.rs makes sure no route is added any
//! other way. Where a role may do a thing, the call is a real one (a fresh camera to pause, a fresh
//! request to approve), so a success in the matrix is a success, not a lucky shape.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use reqwest::Method;
use serde_json::{Value, json};

use crate::common::{Database, MILWAUKEE_CSV, Server, database, eventually, get_json, import};
use crate::common::{porchlight_at, repo, store_connection};

/// Who asks, in the matrix's column order.
const ROLES: [&str; 10] = [
    "anonymous",
    // A signed-in resident with a camera of their own, away from every request here.
    "resident",
    // The resident whose camera, clips and browser the paths name.
    "owner",
    // An officer of agency A (the paths' agency) and of agency B.
    "officer A",
    "officer B",
    "admin A",
    "moderator",
    "platform admin",
    // Agency A's API token, with every scope a token may have.
    "token A",
    // The dispatch centre holding agency A's push key, signing every request it makes.
    "dispatch A",
];

/// Each route (method, path as the router has it) and the status of each role, in the order
/// of [`ROLES`]. Capability links (a subscription's id, an unsubscribe token, a clip's signed
/// link) are credentials of their own: whoever holds one gets the same answer.
#[rustfmt::skip]
const MATRIX: &[(&str, &str, [u16; 10])] = &[
    ("DELETE", "/v1/portal/agencies/{agency}/officers/{account}", [401, 403, 403, 403, 403, 204, 403, 403, 403, 401]),
    ("DELETE", "/v1/portal/agencies/{agency}/tokens/{token}", [401, 403, 403, 403, 403, 204, 403, 403, 403, 401]),
    ("DELETE", "/v1/portal/cameras/{camera}", [401, 404, 204, 403, 403, 403, 403, 403, 403, 401]),
    ("DELETE", "/v1/portal/clips/{clip}", [401, 404, 204, 403, 403, 403, 403, 403, 403, 401]),
    ("DELETE", "/v1/portal/push/subscriptions/{id}", [401, 404, 204, 403, 403, 403, 403, 403, 403, 401]),
    // Each session role signs out a session of its own made for the purpose.
    ("DELETE", "/v1/portal/sessions", [401, 204, 204, 204, 204, 204, 204, 204, 403, 401]),
    ("DELETE", "/v1/subscriptions/{id}", [204, 204, 204, 204, 204, 204, 204, 204, 204, 204]),
    ("DELETE", "/v1/subscriptions/{id}/channels/{channel}", [204, 204, 204, 204, 204, 204, 204, 204, 204, 204]),
    ("GET", "/", [200, 200, 200, 200, 200, 200, 200, 200, 200, 200]),
    ("GET", "/account", [200, 200, 200, 200, 200, 200, 200, 200, 200, 200]),
    ("GET", "/admin", [200, 200, 200, 200, 200, 200, 200, 200, 200, 200]),
    ("GET", "/agency", [200, 200, 200, 200, 200, 200, 200, 200, 200, 200]),
    ("GET", "/alerts/{id}", [200, 200, 200, 200, 200, 200, 200, 200, 200, 200]),
    ("GET", "/api", [200, 200, 200, 200, 200, 200, 200, 200, 200, 200]),
    ("GET", "/app/config.json", [200, 200, 200, 200, 200, 200, 200, 200, 200, 200]),
    ("GET", "/assets/{*file}", [200, 200, 200, 200, 200, 200, 200, 200, 200, 200]),
    ("GET", "/cameras", [200, 200, 200, 200, 200, 200, 200, 200, 200, 200]),
    ("GET", "/healthz", [200, 200, 200, 200, 200, 200, 200, 200, 200, 200]),
    ("GET", "/inbox", [200, 200, 200, 200, 200, 200, 200, 200, 200, 200]),
    ("GET", "/incidents/{id}", [200, 200, 200, 200, 200, 200, 200, 200, 200, 200]),
    ("GET", "/metrics", [200, 200, 200, 200, 200, 200, 200, 200, 200, 200]),
    ("GET", "/moderation", [200, 200, 200, 200, 200, 200, 200, 200, 200, 200]),
    ("GET", "/officer", [200, 200, 200, 200, 200, 200, 200, 200, 200, 200]),
    ("GET", "/openapi.json", [200, 200, 200, 200, 200, 200, 200, 200, 200, 200]),
    ("GET", "/subscribe", [200, 200, 200, 200, 200, 200, 200, 200, 200, 200]),
    ("GET", "/sw.js", [200, 200, 200, 200, 200, 200, 200, 200, 200, 200]),
    ("GET", "/transparency", [200, 200, 200, 200, 200, 200, 200, 200, 200, 200]),
    ("GET", "/v1/agencies", [200, 200, 200, 200, 200, 200, 200, 200, 200, 200]),
    ("GET", "/v1/agencies/{id}", [200, 200, 200, 200, 200, 200, 200, 200, 200, 200]),
    // Public, but A's calls are imported, not polled: tests/it/poll.rs has the 200.
    ("GET", "/v1/agencies/{id}/feed", [404, 404, 404, 404, 404, 404, 404, 404, 404, 404]),
    ("GET", "/v1/agencies/{id}/incidents.atom", [200, 200, 200, 200, 200, 200, 200, 200, 200, 200]),
    ("GET", "/v1/agencies/{id}/policy", [200, 200, 200, 200, 200, 200, 200, 200, 200, 200]),
    ("GET", "/v1/agencies/{id}/withheld", [200, 200, 200, 200, 200, 200, 200, 200, 200, 200]),
    ("GET", "/v1/cap.atom", [200, 200, 200, 200, 200, 200, 200, 200, 200, 200]),
    ("GET", "/v1/incidents", [200, 200, 200, 200, 200, 200, 200, 200, 200, 200]),
    ("GET", "/v1/incidents.geojson", [200, 200, 200, 200, 200, 200, 200, 200, 200, 200]),
    ("GET", "/v1/incidents/{id}", [200, 200, 200, 200, 200, 200, 200, 200, 200, 200]),
    ("GET", "/v1/incidents/{id}/cap", [200, 200, 200, 200, 200, 200, 200, 200, 200, 200]),
    ("GET", "/v1/incidents/{id}/versions", [200, 200, 200, 200, 200, 200, 200, 200, 200, 200]),
    ("GET", "/v1/log/get-entries", [200, 200, 200, 200, 200, 200, 200, 200, 200, 200]),
    ("GET", "/v1/log/get-entry-and-proof", [200, 200, 200, 200, 200, 200, 200, 200, 200, 200]),
    ("GET", "/v1/log/get-proof-by-hash", [200, 200, 200, 200, 200, 200, 200, 200, 200, 200]),
    ("GET", "/v1/log/get-sth", [200, 200, 200, 200, 200, 200, 200, 200, 200, 200]),
    ("GET", "/v1/log/get-sth-consistency", [200, 200, 200, 200, 200, 200, 200, 200, 200, 200]),
    ("GET", "/v1/log/key", [200, 200, 200, 200, 200, 200, 200, 200, 200, 200]),
    ("GET", "/v1/portal/agencies", [200, 200, 200, 200, 200, 200, 200, 200, 200, 200]),
    ("GET", "/v1/portal/agencies/{agency}", [200, 200, 200, 200, 200, 200, 200, 200, 200, 200]),
    ("GET", "/v1/portal/agencies/{agency}/officers", [401, 403, 403, 403, 403, 200, 403, 403, 403, 401]),
    ("GET", "/v1/portal/agencies/{agency}/requests", [200, 200, 200, 200, 200, 200, 200, 200, 200, 200]),
    ("GET", "/v1/portal/agencies/{agency}/requests/all", [401, 403, 403, 200, 403, 403, 403, 403, 200, 401]),
    ("GET", "/v1/portal/agencies/{agency}/requests/{request}/clips", [401, 403, 403, 200, 403, 403, 403, 403, 200, 401]),
    ("GET", "/v1/portal/cameras", [401, 200, 200, 403, 403, 403, 403, 403, 403, 401]),
    // The link signed for agency A's officer is the credential, whoever holds it.
    ("GET", "/v1/portal/clips/{clip}/download", [200, 200, 200, 200, 200, 200, 200, 200, 200, 200]),
    ("GET", "/v1/portal/inbox", [401, 200, 200, 403, 403, 403, 403, 403, 403, 401]),
    ("GET", "/v1/portal/me", [401, 200, 200, 200, 200, 200, 200, 200, 200, 401]),
    ("GET", "/v1/portal/moderation", [401, 403, 403, 403, 403, 403, 200, 403, 403, 401]),
    ("GET", "/v1/portal/my/clips", [401, 200, 200, 403, 403, 403, 403, 403, 403, 401]),
    ("GET", "/v1/portal/push/key", [200, 200, 200, 200, 200, 200, 200, 200, 200, 200]),
    ("GET", "/v1/portal/taxonomy", [200, 200, 200, 200, 200, 200, 200, 200, 200, 200]),
    ("GET", "/v1/push/key", [200, 200, 200, 200, 200, 200, 200, 200, 200, 200]),
    ("GET", "/v1/subscriptions/{id}", [200, 200, 200, 200, 200, 200, 200, 200, 200, 200]),
    ("GET", "/v1/subscriptions/{id}/alerts", [200, 200, 200, 200, 200, 200, 200, 200, 200, 200]),
    ("GET", "/v1/subscriptions/{id}/alerts.atom", [200, 200, 200, 200, 200, 200, 200, 200, 200, 200]),
    // The WebSocket upgrade is accepted (101) for whoever holds the subscription's id.
    ("GET", "/v1/subscriptions/{id}/alerts/socket", [101, 101, 101, 101, 101, 101, 101, 101, 101, 101]),
    ("GET", "/v1/subscriptions/{id}/alerts/stream", [200, 200, 200, 200, 200, 200, 200, 200, 200, 200]),
    ("GET", "/v1/subscriptions/{id}/channels", [200, 200, 200, 200, 200, 200, 200, 200, 200, 200]),
    ("GET", "/v1/subscriptions/{id}/deliveries", [200, 200, 200, 200, 200, 200, 200, 200, 200, 200]),
    ("GET", "/v1/subscriptions/{id}/digest", [200, 200, 200, 200, 200, 200, 200, 200, 200, 200]),
    ("GET", "/v1/transparency/report", [200, 200, 200, 200, 200, 200, 200, 200, 200, 200]),
    ("GET", "/v1/transparency/report.html", [200, 200, 200, 200, 200, 200, 200, 200, 200, 200]),
    ("GET", "/v1/unsubscribe/{token}", [200, 200, 200, 200, 200, 200, 200, 200, 200, 200]),
    // Only a push signed with A's key is taken; sessions and tokens are not keys.
    ("POST", "/v1/agencies/{id}/calls", [401, 401, 401, 401, 401, 401, 401, 401, 401, 200]),
    ("POST", "/v1/agencies/{id}/policy/preview", [200, 200, 200, 200, 200, 200, 200, 200, 200, 200]),
    ("POST", "/v1/portal/accounts", [201, 201, 201, 201, 201, 201, 201, 201, 201, 201]),
    ("POST", "/v1/portal/agencies", [401, 403, 403, 403, 403, 403, 403, 201, 403, 401]),
    ("POST", "/v1/portal/agencies/{agency}/admins", [401, 403, 403, 403, 403, 403, 403, 200, 403, 401]),
    ("POST", "/v1/portal/agencies/{agency}/officers", [401, 403, 403, 403, 403, 200, 403, 403, 403, 401]),
    ("POST", "/v1/portal/agencies/{agency}/requests", [401, 403, 403, 201, 403, 403, 403, 403, 201, 401]),
    ("POST", "/v1/portal/agencies/{agency}/requests/{request}/close", [401, 403, 403, 204, 403, 403, 403, 403, 204, 401]),
    ("POST", "/v1/portal/agencies/{agency}/tokens", [401, 403, 403, 403, 403, 201, 403, 403, 403, 401]),
    ("POST", "/v1/portal/agencies/{agency}/verify", [401, 403, 403, 403, 403, 403, 403, 200, 403, 401]),
    ("POST", "/v1/portal/cameras", [401, 201, 201, 403, 403, 403, 403, 403, 403, 401]),
    // The owner's camera: another resident is told it does not exist.
    ("POST", "/v1/portal/cameras/{camera}/pause", [401, 404, 204, 403, 403, 403, 403, 403, 403, 401]),
    ("POST", "/v1/portal/cameras/{camera}/resume", [401, 404, 204, 403, 403, 403, 403, 403, 403, 401]),
    ("POST", "/v1/portal/moderators", [401, 403, 403, 403, 403, 403, 403, 200, 403, 401]),
    ("POST", "/v1/portal/push/subscriptions", [401, 201, 201, 403, 403, 403, 403, 403, 403, 401]),
    ("POST", "/v1/portal/requests/{request}/approve", [401, 403, 403, 403, 403, 403, 200, 403, 403, 401]),
    ("POST", "/v1/portal/requests/{request}/clips", [401, 404, 201, 403, 403, 403, 403, 403, 403, 401]),
    ("POST", "/v1/portal/requests/{request}/decline", [401, 404, 204, 403, 403, 403, 403, 403, 403, 401]),
    ("POST", "/v1/portal/requests/{request}/reject", [401, 403, 403, 403, 403, 403, 200, 403, 403, 401]),
    ("POST", "/v1/portal/sessions", [201, 201, 201, 201, 201, 201, 201, 201, 201, 201]),
    ("POST", "/v1/subscriptions", [201, 201, 201, 201, 201, 201, 201, 201, 201, 201]),
    ("POST", "/v1/subscriptions/{id}/channels", [201, 201, 201, 201, 201, 201, 201, 201, 201, 201]),
    ("POST", "/v1/subscriptions/{id}/channels/{channel}/resume", [200, 200, 200, 200, 200, 200, 200, 200, 200, 200]),
    ("POST", "/v1/subscriptions/{id}/deliveries/redeliver", [200, 200, 200, 200, 200, 200, 200, 200, 200, 200]),
    ("POST", "/v1/unsubscribe/{token}", [200, 200, 200, 200, 200, 200, 200, 200, 200, 200]),
];

/// The agencies: A publishes its calls here and posts requests; B is another agency's.
const A: &str = "milwaukee";
const B: &str = "glendale";
const PASSWORD: &str = "correct horse battery";
/// Where requests are asked round, and where the owner's camera is.
const HERE: (f64, f64) = (43.05, -87.95);
/// Where the resident's camera is: no request here asks it.
const AWAY: (f64, f64) = (43.2, -87.9);

static FRESH: AtomicUsize = AtomicUsize::new(1);

fn fresh() -> usize {
    FRESH.fetch_add(1, Ordering::Relaxed)
}

#[derive(Clone, Debug)]
enum Caller {
    Anonymous,
    Session { email: String, cookie: String, csrf: String },
    Token(String),
    Dispatch(Vec<u8>),
}

enum Body {
    None,
    Json(Value),
    Video(Vec<u8>),
}

/// One request: where, and with what.
struct Call {
    path: String,
    body: Body,
}

impl Call {
    fn with(path: impl Into<String>, body: Value) -> Self {
        Self { path: path.into(), body: Body::Json(body) }
    }
}

/// The server, the cast, and the standing things the paths name.
struct World {
    server: Server,
    data: PathBuf,
    http: reqwest::Client,
    who: BTreeMap<&'static str, Caller>,
    incident: String,
    subscription: String,
    webhook: String,
    email_token: String,
    camera_request: String,
    /// A second camera of the owner's, away from every request, to pause and resume.
    spare_camera: String,
    clip_link: String,
    asset: String,
    leaf: String,
}

impl World {
    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.server.url)
    }

    /// Send `call` as `who`: the status, and the answer's text (not read from streams).
    async fn send(&self, who: &Caller, method: &Method, call: &Call) -> (u16, String) {
        let mut request = self.http.request(method.clone(), self.url(&call.path));
        let mut signed = Vec::new();
        match &call.body {
            Body::None => {}
            Body::Json(body) => {
                signed = body.to_string().into_bytes();
                request = request.header("content-type", "application/json").body(signed.clone());
            }
            Body::Video(bytes) => request = request.header("content-type", "video/mp4").body(bytes.clone()),
        }
        match who {
            Caller::Anonymous => {}
            Caller::Session { cookie, csrf, .. } => {
                request = request.header("cookie", cookie).header("x-csrf-token", csrf);
            }
            Caller::Token(token) => request = request.bearer_auth(token),
            Caller::Dispatch(secret) => {
                let now = chrono::Utc::now().timestamp();
                request = request.header("x-porchlight-timestamp", now.to_string()).header(
                    "x-porchlight-signature",
                    porchlight_core::signature::push::sign(secret, now, &signed),
                );
            }
        }
        if call.path.ends_with("/alerts/socket") {
            request = request
                .header("connection", "upgrade")
                .header("upgrade", "websocket")
                .header("sec-websocket-version", "13")
                .header("sec-websocket-key", "dGhlIHNhbXBsZSBub25jZQ==");
        }
        let response = request.send().await.unwrap();
        let status = response.status().as_u16();
        let streaming = response
            .headers()
            .get("content-type")
            .is_some_and(|t| t.to_str().unwrap_or_default().starts_with("text/event-stream"));
        if status == 101 || streaming {
            return (status, String::new());
        }
        (status, response.text().await.unwrap_or_default())
    }

    /// What an answer shows that no answer may: a secret of the cast (a password, a session, a
    /// token, the push key), or, in a refusal, the insides of the server (SQL, its database, a
    /// panic, a path on its disk).
    fn leak(&self, status: u16, text: &str) -> Option<String> {
        let mut secrets = vec![PASSWORD.to_owned(), ADMIN_PASSWORD.to_owned(), "$argon2".to_owned()];
        for who in self.who.values() {
            match who {
                Caller::Session { cookie, csrf, .. } => {
                    secrets.push(cookie.split_once('=').map_or(cookie.clone(), |(_, v)| v.to_owned()));
                    secrets.push(csrf.clone());
                }
                Caller::Token(token) => secrets.push(token.clone()),
                Caller::Dispatch(key) => secrets.push(key.iter().map(|b| format!("{b:02x}")).collect()),
                Caller::Anonymous => {}
            }
        }
        if let Some(secret) = secrets.iter().find(|s| text.contains(s.as_str())) {
            return Some(format!("a secret ({}…)", &secret[..4]));
        }
        let insides = [
            "sqlx",
            "sqlite",
            "SQLITE",
            "postgres",
            "SELECT ",
            "INSERT ",
            "UPDATE ",
            " WHERE ",
            "syntax error",
            "panicked",
            "backtrace",
            "/root/",
            "/tmp/",
            ".rs:",
        ];
        let lower = text.to_lowercase();
        (status >= 400)
            .then(|| insides.iter().find(|i| lower.contains(&i.to_lowercase())))
            .flatten()
            .map(|i| format!("the server's insides ({i})"))
    }

    /// Send as `who`, and insist on a success: the answer.
    async fn ok(&self, who: &str, method: Method, path: &str, body: Value) -> Value {
        let call = Call::with(path, body);
        let (status, text) = self.send(&self.who[who], &method, &call).await;
        assert!((200..300).contains(&status), "{method} {path} as {who}: {status} {text}");
        serde_json::from_str(&text).unwrap_or(Value::Null)
    }

    async fn register(&self, email: &str) -> Value {
        let body = json!({"email": email, "password": PASSWORD, "display_name": email});
        self.ok("anonymous", Method::POST, "/v1/portal/accounts", body).await
    }

    async fn sign_in(&self, email: &str, password: &str) -> Caller {
        let response = self
            .http
            .post(self.url("/v1/portal/sessions"))
            .json(&json!({"email": email, "password": password}))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 201, "{email}");
        let cookie = response.headers()["set-cookie"].to_str().unwrap().split(';').next().unwrap().to_owned();
        let body: Value = response.json().await.unwrap();
        Caller::Session {
            email: email.to_owned(),
            cookie,
            csrf: body["csrf_token"].as_str().unwrap().to_owned(),
        }
    }

    /// A fresh resident's address, registered.
    async fn fresh_resident(&self) -> String {
        let email = format!("fresh{}@mail.example", fresh());
        self.register(&email).await;
        email
    }

    /// A request of agency A round `HERE`, posted by its officer; approved when `approve`.
    async fn request(&self, approve: bool) -> String {
        let now = chrono::Utc::now();
        let body = json!({
            "case_number": format!("2026-{}", fresh()),
            "incident_type": "burglary",
            "area": {"lat": HERE.0, "lon": HERE.1, "radius_m": 300},
            "window_start": now - chrono::Duration::hours(2),
            "window_end": now - chrono::Duration::hours(1),
            "description": "Garage door forced",
            "contact": "Detective Ruiz, 414-555-0100",
        });
        let posted =
            self.ok("officer A", Method::POST, &format!("/v1/portal/agencies/{A}/requests"), body).await;
        let id = posted["id"].as_str().unwrap().to_owned();
        if approve {
            self.ok("moderator", Method::POST, &format!("/v1/portal/requests/{id}/approve"), json!({})).await;
        }
        id
    }

    /// Close every open request of agency A but the standing one, so that the fresh ones the
    /// rows make stay under the agency's limit of open requests.
    async fn tidy_requests(&self) {
        let all = self
            .ok("officer A", Method::GET, &format!("/v1/portal/agencies/{A}/requests/all"), json!(null))
            .await;
        for request in all["requests"].as_array().unwrap() {
            let id = request["id"].as_str().unwrap();
            if id != self.camera_request && matches!(request["state"].as_str(), Some("pending" | "approved"))
            {
                let path = format!("/v1/portal/agencies/{A}/requests/{id}/close");
                self.ok("officer A", Method::POST, &path, json!({})).await;
            }
        }
    }

    async fn camera(&self, who: &str, lat: f64, lon: f64) -> String {
        let made = self
            .ok(who, Method::POST, "/v1/portal/cameras", json!({"name": "Porch", "lat": lat, "lon": lon}))
            .await;
        made["id"].as_str().unwrap().to_owned()
    }

    async fn clip(&self) -> String {
        let call = Call {
            path: format!("/v1/portal/requests/{}/clips?shared_as=Porch", self.camera_request),
            body: Body::Video(b"\0\0\0\x18ftypmp42 a short clip".to_vec()),
        };
        let (status, text) = self.send(&self.who["owner"], &Method::POST, &call).await;
        assert_eq!(status, 201, "{text}");
        serde_json::from_str::<Value>(&text).unwrap()["id"].as_str().unwrap().to_owned()
    }

    async fn webhook(&self) -> String {
        let body = json!({"kind": "webhook", "url": "http://127.0.0.1:9/hook"});
        let made = self
            .ok("anonymous", Method::POST, &format!("/v1/subscriptions/{}/channels", self.subscription), body)
            .await;
        made["id"].as_str().unwrap().to_owned()
    }

    /// A fresh e-mail channel's unsubscribe token, as its e-mails carry it.
    async fn email_token(&self) -> String {
        let body = json!({"kind": "email", "address": format!("fresh{}@mail.example", fresh())});
        let made = self
            .ok("anonymous", Method::POST, &format!("/v1/subscriptions/{}/channels", self.subscription), body)
            .await;
        email_token(&self.data, made["id"].as_str().unwrap()).await
    }

    async fn subscribe(&self) -> String {
        let body = json!({"lat": HERE.0, "lon": HERE.1, "radius_m": 800, "categories": []});
        let made = self.ok("anonymous", Method::POST, "/v1/subscriptions", body).await;
        made["id"].as_str().unwrap().to_owned()
    }

    /// The call that asks `method template` as `role`: the path's blanks filled with things
    /// that exist (fresh ones where a success would use them up), and a valid body.
    async fn call(&self, method: &Method, template: &str) -> Call {
        let n = fresh();
        let post = *method == Method::POST;
        let delete = *method == Method::DELETE;
        let mut path = template.to_owned();
        let mut body = if post { Body::Json(json!({})) } else { Body::None };
        let mut fill = |blank: &str, value: &str| path = path.replace(blank, value);
        // The blanks, by where they are.
        if template.starts_with("/v1/agencies/{id}") {
            fill("{id}", A);
        }
        if template.starts_with("/v1/incidents/{id}") {
            fill("{id}", &self.incident);
        }
        // A subscription holds at most ten channels: each new one goes on a fresh one.
        if (template == "/v1/subscriptions/{id}" && delete)
            || (template == "/v1/subscriptions/{id}/channels" && post)
        {
            fill("{id}", &self.subscribe().await);
        }
        if template.starts_with("/v1/subscriptions/{id}") {
            fill("{id}", &self.subscription);
        }
        if template.ends_with("/channels/{channel}") {
            fill("{channel}", &self.webhook().await);
        }
        if template.contains("{channel}") {
            fill("{channel}", &self.webhook);
        }
        if template == "/v1/unsubscribe/{token}" {
            fill("{token}", &if post { self.email_token().await } else { self.email_token.clone() });
        }
        if template.starts_with("/v1/portal/agencies/{agency}") {
            fill("{agency}", A);
        }
        if template.ends_with("/approve") || template.ends_with("/reject") {
            fill("{request}", &self.request(false).await);
        }
        if template.ends_with("/close") || template.ends_with("/decline") {
            fill("{request}", &self.request(true).await);
        }
        if template.contains("{request}") {
            fill("{request}", &self.camera_request);
        }
        if template == "/v1/portal/cameras/{camera}" {
            fill("{camera}", &self.camera("owner", AWAY.0, AWAY.1).await);
        }
        if template.contains("{camera}") {
            fill("{camera}", &self.spare_camera);
        }
        if template == "/v1/portal/clips/{clip}" {
            fill("{clip}", &self.clip().await);
        }
        if template.ends_with("/tokens/{token}") {
            let body = json!({"name": "t", "scopes": ["clips:read"], "expires_in_days": 1});
            let made =
                self.ok("admin A", Method::POST, &format!("/v1/portal/agencies/{A}/tokens"), body).await;
            fill("{token}", made["id"].as_str().unwrap());
        }
        if template.ends_with("/officers/{account}") {
            let email = self.fresh_resident().await;
            let path = format!("/v1/portal/agencies/{A}/officers");
            let made = self.ok("admin A", Method::POST, &path, json!({"email": email})).await;
            fill("{account}", made["id"].as_str().unwrap());
        }
        if template == "/v1/portal/push/subscriptions/{id}" {
            let made =
                self.ok("owner", Method::POST, "/v1/portal/push/subscriptions", push_subscription()).await;
            fill("{id}", made["id"].as_str().unwrap());
        }
        fill("{*file}", &self.asset);
        // The bodies, and the query strings a route needs.
        match (method.as_str(), template) {
            ("GET", "/v1/portal/clips/{clip}/download") => path = self.clip_link.clone(),
            ("POST", "/v1/portal/requests/{request}/clips") => {
                path.push_str("?shared_as=Porch");
                body = Body::Video(b"\0\0\0\x18ftypmp42 a short clip".to_vec());
            }
            ("GET", "/v1/log/get-sth-consistency") => path.push_str("?first=1&second=2"),
            ("GET", "/v1/log/get-proof-by-hash") => {
                path.push_str(&format!("?hash={}&tree_size=2", self.leaf))
            }
            ("GET", "/v1/log/get-entry-and-proof") => path.push_str("?leaf_index=0&tree_size=2"),
            ("GET", "/v1/log/get-entries") => path.push_str("?start=0&end=1"),
            ("POST", "/v1/agencies/{id}/calls") => {
                body = Body::Json(json!({"records": [{
                    "incident_id": format!("A{n}"), "received_at": "2018-05-01T00:10:28-05:00",
                    "call_type": "TRBL W/SUBJ", "status": "Dispatched", "address": "5237 N 35TH ST,MKE",
                    "latitude": 43.1127987, "longitude": -87.9567415}]}));
            }
            ("POST", "/v1/agencies/{id}/policy/preview") => {
                let policy = get_json(&self.http, self.url(&format!("/v1/agencies/{A}/policy"))).await;
                let csv = std::fs::read_to_string(repo().join(MILWAUKEE_CSV)).unwrap();
                let sample: Vec<&str> = csv.lines().take(3).collect();
                body = Body::Json(json!({"policy": policy["current"]["policy"], "csv": sample.join("\n")}));
            }
            ("POST", "/v1/subscriptions") => {
                body = Body::Json(json!({"lat": HERE.0, "lon": HERE.1, "radius_m": 800, "categories": []}));
            }
            ("POST", "/v1/subscriptions/{id}/channels") => {
                body = Body::Json(json!({"kind": "webhook", "url": "http://127.0.0.1:9/hook"}));
            }
            ("POST", "/v1/portal/accounts") => {
                let email = format!("fresh{n}@mail.example");
                body = Body::Json(json!({"email": email, "password": PASSWORD, "display_name": "Fresh"}));
            }
            ("POST", "/v1/portal/sessions") => {
                let email = self.fresh_resident().await;
                body = Body::Json(json!({"email": email, "password": PASSWORD}));
            }
            ("POST", "/v1/portal/agencies") => {
                body = Body::Json(json!({"id": format!("agency-{n}"), "name": "New PD"}))
            }
            ("POST", "/v1/portal/agencies/{agency}/tokens") => {
                body = Body::Json(json!({"name": "t", "scopes": ["clips:read"], "expires_in_days": 1}));
            }
            ("POST", "/v1/portal/cameras") => {
                // Away from the requests here: only the owner's cameras are asked.
                body = Body::Json(json!({"name": "Porch", "lat": AWAY.0, "lon": AWAY.1}));
            }
            ("POST", "/v1/portal/agencies/{agency}/requests") => {
                let now = chrono::Utc::now();
                body = Body::Json(json!({
                    "case_number": format!("2026-{n}"), "incident_type": "burglary",
                    "area": {"lat": HERE.0, "lon": HERE.1, "radius_m": 300},
                    "window_start": now - chrono::Duration::hours(2),
                    "window_end": now - chrono::Duration::hours(1),
                    "description": "Door forced", "contact": "Detective Ruiz, 414-555-0100",
                }));
            }
            ("POST", "/v1/portal/requests/{request}/reject") => {
                body = Body::Json(json!({"reason": "not enough detail"}))
            }
            ("POST", "/v1/portal/push/subscriptions") => body = Body::Json(push_subscription()),
            (
                "POST",
                "/v1/portal/moderators"
                | "/v1/portal/agencies/{agency}/admins"
                | "/v1/portal/agencies/{agency}/officers",
            ) => {
                body = Body::Json(json!({"email": self.fresh_resident().await}));
            }
            _ => {}
        }
        Call { path, body }
    }

    /// Who `role` is for this call: signing out ends a session, so it is asked with a new one.
    async fn caller(&self, method: &Method, template: &str, role: &str) -> Caller {
        match &self.who[role] {
            Caller::Session { email, .. }
                if *method == Method::DELETE && template == "/v1/portal/sessions" =>
            {
                let password = if role == "platform admin" { ADMIN_PASSWORD } else { PASSWORD };
                self.sign_in(email, password).await
            }
            who => who.clone(),
        }
    }
}

const ADMIN_PASSWORD: &str = "the platform's own passphrase";

/// A browser's PushSubscription, as `JSON.stringify` gives it.
fn push_subscription() -> Value {
    use web_push_native::p256;
    let browser = p256::SecretKey::random(&mut p256::elliptic_curve::rand_core::OsRng);
    json!({
        "endpoint": format!("http://127.0.0.1:9/push/{}", fresh()),
        "keys": {
            "p256dh": URL_SAFE_NO_PAD.encode(browser.public_key().to_sec1_bytes()),
            "auth": URL_SAFE_NO_PAD.encode([7u8; 16]),
        }
    })
}

/// The unsubscribe token of the e-mail channel `id`: its secret, as the e-mails carry it.
async fn email_token(data: &Path, id: &str) -> String {
    let mut conn = store_connection(data).await;
    let secret: Vec<u8> = sqlx::query_scalar("SELECT secret FROM channels WHERE id = $1")
        .bind(id)
        .fetch_one(&mut conn)
        .await
        .unwrap();
    URL_SAFE_NO_PAD.encode(secret)
}

/// Every route the server has: (method, path as routed).
async fn served_routes(world: &World) -> BTreeSet<(String, String)> {
    let doc = get_json(&world.http, world.url("/openapi.json")).await;
    let mut routes = BTreeSet::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for method in item.as_object().unwrap().keys() {
            if ["get", "put", "post", "delete", "patch", "head", "options", "trace"]
                .contains(&method.as_str())
            {
                routes.insert((method.to_uppercase(), path.clone()));
            }
        }
    }
    for path in porchlight_web::paths() {
        routes.insert(("GET".into(), path.to_owned()));
    }
    routes.insert(("GET".into(), "/openapi.json".into()));
    routes
}

porchlight_db::test_on_both! {
    #[tokio::test]
    async fn every_route_against_every_role(backend) {
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("data");
        let _db: Database = database(backend, &data).await;
        let world = World::set_up(&data).await;
        let served = served_routes(&world).await;
        let rows: BTreeMap<(String, String), [u16; 10]> =
            MATRIX.iter().map(|(m, p, s)| ((m.to_string(), p.to_string()), *s)).collect();
        let mut wrong = Vec::new();
        let mut table = Vec::new();
        let mut leaks = Vec::new();
        let mut unguarded = Vec::new();
        let mut guarded = 0;
        for (method, template) in &served {
            let m = Method::from_bytes(method.as_bytes()).unwrap();
            let mut got = [0u16; 10];
            for (i, role) in ROLES.iter().enumerate() {
                let call = world.call(&m, template).await;
                let who = world.caller(&m, template, role).await;
                let (status, text) = world.send(&who, &m, &call).await;
                got[i] = status;
                if let Some(leak) = world.leak(status, &text) {
                    leaks.push(format!("{method} {} as {role}: {status} shows {leak}: {text}", call.path));
                }
                if let Some(expected) = rows.get(&(method.clone(), template.clone()))
                    && expected[i] != status
                {
                    let text: String = text.chars().take(200).collect();
                    wrong.push(format!("{method} {} as {role}: {status}, expected {}: {text}", call.path, expected[i]));
                }
            }
            // Every change a session may make needs its CSRF token: asked by the first
            // session that may make it, without the token, it is refused and nothing is done.
            // Only the portal knows sessions: the incident world's routes read no cookie (their
            // credential is a subscription id in the path, or a signature, which a page
            // elsewhere cannot know), and opening an account or a session needs none.
            let exempt = m == Method::POST && matches!(template.as_str(), "/v1/portal/sessions" | "/v1/portal/accounts");
            let exempt = exempt || !template.starts_with("/v1/portal/");
            let session_role = ROLES.iter().enumerate().find(|(i, role)| {
                (200..300).contains(&got[*i]) && matches!(world.who[**role], Caller::Session { .. })
            });
            if m != Method::GET && !exempt && let Some((_, role)) = session_role {
                guarded += 1;
                let call = world.call(&m, template).await;
                let Caller::Session { email, cookie, .. } = world.caller(&m, template, role).await else {
                    unreachable!()
                };
                let without = Caller::Session { email, cookie, csrf: String::new() };
                let (status, text) = world.send(&without, &m, &call).await;
                if status != 403 || !text.contains("csrf_token_missing") {
                    unguarded.push(format!("{method} {} as {role} without its CSRF token: {status} {text}", call.path));
                }
            }
            if template.contains("{request}") {
                world.tidy_requests().await;
            }
            table.push(format!("    (\"{method}\", \"{template}\", {got:?}),"));
        }
        assert!(leaks.is_empty(), "answers that show what they must not:\n{}", leaks.join("\n"));
        assert!(unguarded.is_empty(), "changes made without a CSRF token:\n{}", unguarded.join("\n"));
        assert!(guarded >= 20, "only {guarded} changes were tried without a CSRF token");
        let missing: Vec<_> = served.iter().filter(|r| !rows.contains_key(*r)).collect();
        let gone: Vec<_> = rows.keys().filter(|r| !served.contains(*r)).collect();
        assert!(
            wrong.is_empty() && missing.is_empty() && gone.is_empty(),
            "routes without a row: {missing:?}\nrows without a route: {gone:?}\n{}\n\nwhat each role got:\n{}",
            wrong.join("\n"),
            table.join("\n")
        );
    }
}

impl World {
    /// A server with agency A's calls (a few of Milwaukee's), its push key, both agencies in
    /// the portal, and everyone in [`ROLES`].
    async fn set_up(data: &Path) -> World {
        let sample = data.parent().unwrap().join("sample.csv");
        let csv = std::fs::read_to_string(repo().join(MILWAUKEE_CSV)).unwrap();
        std::fs::write(&sample, csv.lines().take(20).collect::<Vec<_>>().join("\n")).unwrap();
        import(data, A, "examples/milwaukee.toml", &sample);
        let key = crate::common::new_push_key(data);
        let out = porchlight_at(data)
            .args(["portal", "admin", "--email", "admin@city.example", "--data-dir"])
            .arg(data)
            .env("PORCHLIGHT_ADMIN_PASSWORD", ADMIN_PASSWORD)
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        let server = Server::start_with_env(
            data,
            &[
                ("PORCHLIGHT_RATE_LIMIT_IP", "0"),
                ("PORCHLIGHT_RATE_LIMIT_TOKEN", "0"),
                ("PORCHLIGHT_SUBSCRIPTIONS_PER_HOUR", "0"),
                // E-mail channels can be made; nothing here sends one.
                ("PORCHLIGHT_SMTP_URL", "smtp://127.0.0.1:9"),
                ("PORCHLIGHT_MAIL_FROM", "Porchlight <alerts@porchlight.example>"),
            ],
        );
        let mut world = World {
            server,
            data: data.to_path_buf(),
            http: reqwest::Client::new(),
            who: BTreeMap::new(),
            incident: String::new(),
            subscription: String::new(),
            webhook: String::new(),
            email_token: String::new(),
            camera_request: String::new(),
            spare_camera: String::new(),
            clip_link: String::new(),
            asset: String::new(),
            leaf: String::new(),
        };
        world.who.insert("anonymous", Caller::Anonymous);
        world.who.insert("dispatch A", Caller::Dispatch(key));
        let admin = world.sign_in("admin@city.example", ADMIN_PASSWORD).await;
        world.who.insert("platform admin", admin);
        for (id, name) in [(A, "Milwaukee Police Department"), (B, "Glendale Police Department")] {
            world
                .ok("platform admin", Method::POST, "/v1/portal/agencies", json!({"id": id, "name": name}))
                .await;
            world
                .ok("platform admin", Method::POST, &format!("/v1/portal/agencies/{id}/verify"), json!({}))
                .await;
        }
        let accounts = [
            ("resident", "resident@mail.example"),
            ("owner", "owner@mail.example"),
            ("officer A", "officer@milwaukee.example"),
            ("officer B", "officer@glendale.example"),
            ("admin A", "admin@milwaukee.example"),
            ("moderator", "moderator@city.example"),
        ];
        for (_, email) in accounts {
            world.register(email).await;
        }
        let appoint = [
            ("/v1/portal/moderators".to_owned(), "moderator@city.example"),
            (format!("/v1/portal/agencies/{A}/admins"), "admin@milwaukee.example"),
            (format!("/v1/portal/agencies/{B}/admins"), "admin-b@glendale.example"),
        ];
        world.register("admin-b@glendale.example").await;
        for (path, email) in &appoint {
            world.ok("platform admin", Method::POST, path, json!({"email": email})).await;
        }
        for (role, email) in accounts {
            let caller = world.sign_in(email, PASSWORD).await;
            world.who.insert(role, caller);
        }
        let admin_b = world.sign_in("admin-b@glendale.example", PASSWORD).await;
        world.who.insert("admin B", admin_b);
        let officers =
            [("admin A", A, "officer@milwaukee.example"), ("admin B", B, "officer@glendale.example")];
        for (admin, agency, email) in officers {
            world
                .ok(
                    admin,
                    Method::POST,
                    &format!("/v1/portal/agencies/{agency}/officers"),
                    json!({"email": email}),
                )
                .await;
        }
        world.who.remove("admin B");
        let token =
            json!({"name": "CAD bridge", "scopes": ["requests:write", "clips:read"], "expires_in_days": 30});
        let token =
            world.ok("admin A", Method::POST, &format!("/v1/portal/agencies/{A}/tokens"), token).await;
        world.who.insert("token A", Caller::Token(token["token"].as_str().unwrap().to_owned()));

        // The standing things the paths name.
        world.camera("owner", HERE.0, HERE.1).await;
        world.camera("resident", AWAY.0, AWAY.1).await;
        world.spare_camera = world.camera("owner", AWAY.0, AWAY.1).await;
        world.camera_request = world.request(true).await;
        world.clip().await;
        let shared = world
            .ok(
                "officer A",
                Method::GET,
                &format!("/v1/portal/agencies/{A}/requests/{}/clips", world.camera_request),
                json!(null),
            )
            .await;
        world.clip_link = shared["clips"][0]["download_url"].as_str().unwrap().to_owned();
        let incidents = get_json(&world.http, world.url("/v1/incidents")).await;
        world.incident = incidents["incidents"][0]["id"].as_str().unwrap().to_owned();
        world.subscription = world.subscribe().await;
        world.webhook = world.webhook().await;
        world.email_token = world.email_token().await;
        let shell = world.http.get(world.url("/")).send().await.unwrap().text().await.unwrap();
        world.asset = shell.split("/assets/").nth(1).unwrap().split('"').next().unwrap().to_owned();
        // The log has signed a head over the setup's entries.
        let url = world.url("/v1/log/get-sth");
        let http = world.http.clone();
        eventually(20, "the log to sign two entries", || {
            let (http, url) = (http.clone(), url.clone());
            async move {
                let head: Value = http.get(url).send().await.ok()?.json().await.ok()?;
                (head["tree_size"].as_u64()? >= 2).then_some(())
            }
        })
        .await;
        let entries = get_json(&world.http, world.url("/v1/log/get-entries?start=0&end=0")).await;
        let first = entries["entries"][0].as_str().unwrap();
        let leaf =
            base64::engine::general_purpose::STANDARD.encode(porchlight_ledger::leaf_hash(first.as_bytes()));
        world.leaf = leaf.replace('+', "%2B").replace('/', "%2F").replace('=', "%3D");
        world
    }
}
