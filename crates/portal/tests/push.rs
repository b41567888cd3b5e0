//! Web Push notices of approved requests, through a push service on loopback that keeps what
//! it receives: the browser of an owner in the area decrypts one notice, signed with the
//! portal's VAPID key; a far owner's browser gets none; a browser gone (410) is forgotten.

mod support;

use std::sync::{Arc, Mutex};

use axum::{Router, body::Bytes, extract::Path, http::HeaderMap, routing::post};
use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use porchlight_portal::PushSender;
use reqwest::Method;
use serde_json::{Value, json};
use support::{Site, camera, cast, request_body};
use web_push_native::p256;

type Received = Arc<Mutex<Vec<(String, HeaderMap, Bytes)>>>;

/// A push service: 410 for the path `gone`, 201 for the others, keeping every request.
async fn push_service() -> (String, Received) {
    let got: Received = Arc::default();
    let kept = got.clone();
    let app = Router::new().route(
        "/push/{who}",
        post(move |Path(who): Path<String>, headers: HeaderMap, body: Bytes| {
            let kept = kept.clone();
            async move {
                let status = if who == "gone" { 410 } else { 201 };
                kept.lock().unwrap().push((who, headers, body));
                axum::http::StatusCode::from_u16(status).unwrap()
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (url, got)
}

porchlight_db::test_on_both! {
    #[tokio::test]
    async fn browsers_of_owners_in_the_area_get_one_encrypted_notice(backend) {
        let site = Site::start(backend).await;
        let cast = cast(&site).await;
        let (officer, moderator) = (cast.who["officer"].clone(), cast.who["moderator"].clone());
        let (push_url, received) = push_service().await;
        let key = site.send(&support::As::Anonymous, Method::GET, "/v1/portal/push/key", None).await.1;
        let vapid = key["public_key"].as_str().unwrap().to_owned();

        // Browsers: the near owner's, the far owner's, and one of another near owner that has
        // since unsubscribed at its push service.
        let mut browsers = Vec::new();
        for (email, lat, path) in [
            ("near@mail.example", 43.0513, "near"),
            ("far@mail.example", 43.0692, "far"),
            ("gone@mail.example", 43.0511, "gone"),
        ] {
            site.register(email).await;
            let owner = site.sign_in(email, "correct horse battery").await;
            camera(&site, &owner, lat, -87.9531).await;
            let secret = p256::SecretKey::random(&mut p256::elliptic_curve::rand_core::OsRng);
            let auth: [u8; 16] = uuid::Uuid::new_v4().into_bytes();
            let subscription = json!({
                "endpoint": format!("{push_url}/push/{path}"), "expirationTime": null,
                "keys": {"p256dh": URL_SAFE_NO_PAD.encode(secret.public_key().to_sec1_bytes()), "auth": URL_SAFE_NO_PAD.encode(auth)},
            });
            site.ok(&owner, Method::POST, "/v1/portal/push/subscriptions", subscription).await;
            browsers.push((secret, auth));
        }
        let bad = site
            .send(
                &cast.who["resident"],
                Method::POST,
                "/v1/portal/push/subscriptions",
                Some(json!({"endpoint": "https://push.example/x", "keys": {"p256dh": "AAAA", "auth": "AAAA"}})),
            )
            .await;
        assert_eq!(bad.0, 400);

        let sender = PushSender::new("mailto:ops@city.example").unwrap();
        let posted = site
            .ok(
                &officer,
                Method::POST,
                "/v1/portal/agencies/north-pd/requests",
                request_body(43.0512, -87.9534, "Garage door forced"),
            )
            .await;
        let id = posted["id"].as_str().unwrap().to_owned();
        assert_eq!(site.portal.send_push_notices(&sender).await.unwrap(), 0, "nothing before approval");
        site.ok(&moderator, Method::POST, &format!("/v1/portal/requests/{id}/approve"), json!({})).await;
        assert_eq!(site.portal.send_push_notices(&sender).await.unwrap(), 1);
        assert_eq!(site.portal.send_push_notices(&sender).await.unwrap(), 0, "once");

        let got = received.lock().unwrap().clone();
        let paths: Vec<&str> = got.iter().map(|(p, _, _)| p.as_str()).collect();
        assert_eq!(paths.iter().filter(|p| **p == "near").count(), 1, "{paths:?}");
        assert!(!paths.contains(&"far"), "{paths:?}");
        let (_, headers, body) = got.iter().find(|(p, _, _)| p == "near").unwrap();
        let authorization = headers["authorization"].to_str().unwrap();
        assert!(authorization.ends_with(&format!(", k={vapid}")), "{authorization}");
        assert_eq!(headers["content-encoding"], "aes128gcm");
        let (secret, auth) = &browsers[0];
        let plain = web_push_native::decrypt(body.to_vec(), secret, &(*auth).into()).unwrap();
        let notice: Value = serde_json::from_slice(&plain).unwrap();
        assert_eq!(notice["request"], id.as_str());
        assert_eq!(notice["title"], "A request for camera footage near you");
        assert!(!String::from_utf8_lossy(&plain).contains("43.05"), "no camera place in a notice");
        // The gone browser was tried once and forgotten: the next request reaches the near
        // browser again and the gone one not at all.
        assert_eq!(paths.iter().filter(|p| **p == "gone").count(), 1, "{paths:?}");
        support::approved_request(&site, &officer, &moderator, 43.0512, -87.9534, "Bike taken").await;
        assert_eq!(site.portal.send_push_notices(&sender).await.unwrap(), 1);
        let got = received.lock().unwrap().clone();
        let count = |who: &str| got.iter().filter(|(p, _, _)| p == who).count();
        assert_eq!((count("near"), count("gone"), count("far")), (2, 1, 0));
    }
}
