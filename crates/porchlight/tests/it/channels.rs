//! Delivery to channels, end to end: a `porchlight serve` child, a signed push from a dispatch
//! centre, and real receivers on loopback: a webhook receiver that checks signatures, a push
//! service that checks VAPID and decrypts the payload with the browser's keys, and an SMTP
//! server (Python's aiosmtpd) that takes real messages.

use std::{path::Path, time::Duration};

use base64::{
    Engine,
    engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD},
};
use serde_json::{Value, json};

// The SMTP server the delivery crate's tests use too.
#[path = "../../../delivery/tests/support/smtp.rs"]
mod smtp;

use smtp::SmtpServer;

use crate::common::{
    Receiver, Server, eventually, get_json, milwaukee_without_calls, new_push_key, signed_push_as, subscribe,
};

/// A call pushed by Milwaukee's dispatch centre, inside the subscription of [`subscriber`].
async fn push_call(data_key: &[u8], url: &str, incident: &str, call_type: &str) {
    let body = json!({"records": [
        {"incident_id": incident, "received_at": "2018-05-01T00:10:28-05:00", "call_type": call_type,
         "status": "Dispatched", "address": "5237 N 35TH ST,MKE",
         "latitude": 43.1127987, "longitude": -87.9567415}
    ]})
    .to_string();
    let now = chrono::Utc::now().timestamp();
    let answer = signed_push_as(
        &format!("{url}/v1/agencies/milwaukee/calls"),
        "application/json",
        data_key,
        now,
        &body,
    )
    .await;
    assert_eq!(answer.status(), 200);
    let answer: Value = answer.json().await.unwrap();
    assert_eq!(answer["records"][0]["outcome"], "published", "{answer}");
}

/// A subscriber to every category round N 35th St and W Villard Av.
async fn subscriber(http: &reqwest::Client, url: &str) -> String {
    subscribe(http, url, json!({"lat": 43.1128, "lon": -87.9567, "radius_m": 900, "categories": []})).await
}

async fn add_channel(http: &reqwest::Client, url: &str, subscription: &str, body: Value) -> Value {
    let answer = http
        .post(format!("{url}/v1/subscriptions/{subscription}/channels"))
        .json(&body)
        .send()
        .await
        .unwrap();
    let status = answer.status();
    let body: Value = answer.json().await.unwrap();
    assert_eq!(status, 201, "{body}");
    body
}

async fn deliveries(http: &reqwest::Client, url: &str, subscription: &str, query: &str) -> Vec<Value> {
    let log = get_json(http, format!("{url}/v1/subscriptions/{subscription}/deliveries{query}")).await;
    log["deliveries"].as_array().unwrap_or_else(|| panic!("{log}")).clone()
}

fn outcomes(delivery: &Value) -> Vec<(String, Option<u64>)> {
    delivery["attempts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| (a["outcome"].as_str().unwrap().to_owned(), a["status"].as_u64()))
        .collect()
}

/// DESIGN.md invariant 1 for what a channel carries: the pushed call's house number and its
/// raw coordinates never leave the privacy stage, only the block and the snapped point.
fn assert_private(sent: &str) {
    for raw in ["5237", "43.1127987", "-87.9567415", "43.112798", "-87.956741"] {
        assert!(!sent.contains(raw), "{raw} went out: {sent}");
    }
}

/// Quick retries, so that a test sees several in a second or two.
const QUICK_RETRIES: [(&str, &str); 3] = [
    ("PORCHLIGHT_RETRY_FIRST_SECS", "0.1"),
    ("PORCHLIGHT_RETRY_MAX_SECS", "0.2"),
    ("PORCHLIGHT_GIVE_UP_AFTER_SECS", "600"),
];

fn start(data: &Path, extra: &[(&str, &str)]) -> Server {
    let env: Vec<(&str, &str)> = QUICK_RETRIES.iter().chain(extra).copied().collect();
    Server::start_with_env(data, &env)
}

porchlight_db::test_on_both! {
    #[tokio::test]
    /// A webhook gets each alert signed as Standard Webhooks says; a receiver that fails twice gets
    /// it on the third attempt, with the same id each time, and the log shows all three.
    async fn webhooks_are_signed_and_retried_until_they_land(backend) {
        let (_dir, data, _db) = milwaukee_without_calls(backend).await;
        let key = new_push_key(&data);
        let (receiver, addr) = Receiver::start(&[500, 503], 204).await;
        let server = start(&data, &[]);
        let http = reqwest::Client::new();
        let id = subscriber(&http, &server.url).await;
        let channel = add_channel(
            &http,
            &server.url,
            &id,
            json!({"kind": "webhook", "url": format!("http://{addr}/hooks/porchlight")}),
        )
        .await;
        assert_eq!((channel["kind"].as_str(), channel["state"].as_str()), (Some("webhook"), Some("active")));
        let secret =
            STANDARD.decode(channel["secret"].as_str().unwrap().strip_prefix("whsec_").unwrap()).unwrap();
        // The secret is shown once.
        let listed = get_json(&http, format!("{}/v1/subscriptions/{id}/channels", server.url)).await;
        assert!(listed["channels"][0].get("secret").is_none(), "{listed}");

        push_call(&key, &server.url, "1211372", "TRBL W/SUBJ").await;
        let got = eventually(20, "three webhook attempts", || {
            let got = receiver.got();
            async move { (got.len() >= 3).then_some(got) }
        })
        .await;
        let alerts = get_json(&http, format!("{}/v1/subscriptions/{id}/alerts", server.url)).await;
        let alert_id = alerts["alerts"][0]["id"].as_i64().unwrap();
        for r in &got {
            assert_eq!(r.path, "hooks/porchlight");
            let header = |name: &str| r.headers.get(name).unwrap().to_str().unwrap().to_owned();
            assert_eq!(header("webhook-id"), format!("alert_{alert_id}"));
            let timestamp: i64 = header("webhook-timestamp").parse().unwrap();
            assert!((chrono::Utc::now().timestamp() - timestamp).abs() < 60);
            let signed = format!("alert_{alert_id}.{timestamp}.{}", String::from_utf8_lossy(&r.body));
            let expected = {
                use hmac::{KeyInit, Mac};
                let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(&secret).unwrap();
                mac.update(signed.as_bytes());
                format!("v1,{}", STANDARD.encode(mac.finalize().into_bytes()))
            };
            assert_eq!(header("webhook-signature"), expected);
            // And as a receiver checks it, with the check Porchlight offers.
            let checked = porchlight_core::signature::webhook::verify(
                &secret,
                &header("webhook-id"),
                Some(&header("webhook-timestamp")),
                Some(&header("webhook-signature")),
                &r.body,
                chrono::Utc::now().timestamp(),
            );
            assert_eq!(checked, Ok(()));
            assert_private(&String::from_utf8_lossy(&r.body));
            let body: Value = serde_json::from_slice(&r.body).unwrap();
            assert_eq!(body["type"], "alert.new");
            assert_eq!(body["data"]["id"], alert_id);
            assert_eq!(body["data"]["incident"]["location"]["text"], "5200 block of N 35th St");
        }
        let log = eventually(10, "the delivery recorded as delivered", || {
            let (http, url, id) = (http.clone(), server.url.clone(), id.clone());
            async move {
                let log = deliveries(&http, &url, &id, "").await;
                (log.len() == 1 && log[0]["state"] == "delivered").then_some(log)
            }
        })
        .await;
        assert_eq!(
            outcomes(&log[0]),
            vec![("failed".into(), Some(500)), ("failed".into(), Some(503)), ("delivered".into(), Some(204))]
        );
        assert_eq!(log[0]["alert"], alert_id);
        assert_eq!(log[0]["kind"], "webhook");
        // Nothing more is sent.
        tokio::time::sleep(Duration::from_millis(500)).await;
        assert_eq!(receiver.got().len(), 3);
    }
}

porchlight_db::test_on_both! {
    #[tokio::test]
    /// A webhook that keeps failing is paused and its alerts become dead letters, a new alert
    /// for it too; once resumed, a redelivery sends them all, once.
    async fn a_failing_webhook_is_paused_and_its_dead_letters_redelivered(backend) {
        let (_dir, data, _db) = milwaukee_without_calls(backend).await;
        let key = new_push_key(&data);
        let (receiver, addr) = Receiver::start(&[], 500).await;
        let server =
            start(&data, &[("PORCHLIGHT_PAUSE_AFTER_FAILURES", "4"), ("PORCHLIGHT_PAUSE_AFTER_SECS", "0.2")]);
        let http = reqwest::Client::new();
        let id = subscriber(&http, &server.url).await;
        let channel =
            add_channel(&http, &server.url, &id, json!({"kind": "webhook", "url": format!("http://{addr}/h")}))
                .await;
        let channel_id = channel["id"].as_str().unwrap().to_owned();
        let channels_url = format!("{}/v1/subscriptions/{id}/channels", server.url);

        push_call(&key, &server.url, "1211372", "TRBL W/SUBJ").await;
        let paused = eventually(20, "the channel paused", || {
            let (http, url) = (http.clone(), channels_url.clone());
            async move {
                let listed = get_json(&http, url).await;
                (listed["channels"][0]["state"] == "paused").then_some(listed)
            }
        })
        .await;
        assert!(paused["channels"][0]["failures"].as_u64().unwrap() >= 4, "{paused}");
        let dead = deliveries(&http, &server.url, &id, "?state=dead").await;
        assert_eq!(dead.len(), 1);
        assert_eq!(dead[0]["reason"], "channel paused after failing repeatedly");
        assert!(outcomes(&dead[0]).iter().all(|(o, s)| o == "failed" && *s == Some(500)));
        let tried = receiver.got().len();

        // While paused, a new alert goes straight to the dead letters.
        push_call(&key, &server.url, "1212185", "TRBL W/SUBJ").await;
        let dead = eventually(10, "the second dead letter", || {
            let (http, url, id) = (http.clone(), server.url.clone(), id.clone());
            async move {
                let dead = deliveries(&http, &url, &id, "?state=dead").await;
                (dead.len() == 2).then_some(dead)
            }
        })
        .await;
        assert!(dead[1]["attempts"].as_array().unwrap().is_empty());
        // Redelivering to a paused channel queues nothing.
        let redeliver = format!("{}/v1/subscriptions/{id}/deliveries/redeliver", server.url);
        let answer: Value = http.post(&redeliver).send().await.unwrap().json().await.unwrap();
        assert_eq!(answer["queued"], 0);
        tokio::time::sleep(Duration::from_millis(300)).await;
        assert_eq!(receiver.got().len(), tried, "a paused channel was sent to");

        // The receiver is mended; the subscriber resumes the channel and redelivers.
        receiver.answer_from_now(200);
        let resumed: Value =
            http.post(format!("{channels_url}/{channel_id}/resume")).send().await.unwrap().json().await.unwrap();
        assert_eq!((resumed["state"].as_str(), resumed["failures"].as_u64()), (Some("active"), Some(0)));
        let answer: Value = http.post(&redeliver).json(&json!({})).send().await.unwrap().json().await.unwrap();
        assert_eq!(answer["queued"], 2);
        let delivered = eventually(10, "both redelivered", || {
            let (http, url, id) = (http.clone(), server.url.clone(), id.clone());
            async move {
                let done = deliveries(&http, &url, &id, "?state=delivered").await;
                (done.len() == 2).then_some(done)
            }
        })
        .await;
        assert_eq!(outcomes(&delivered[1]), vec![("delivered".into(), Some(200))]);
        tokio::time::sleep(Duration::from_millis(300)).await;
        let got = receiver.got();
        assert_eq!(got.len(), tried + 2);
        let mut ids: Vec<String> =
            got[tried..].iter().map(|r| r.headers["webhook-id"].to_str().unwrap().to_owned()).collect();
        ids.dedup();
        assert_eq!(ids.len(), 2, "{ids:?}");
        assert!(deliveries(&http, &server.url, &id, "?state=dead").await.is_empty());
    }
}

porchlight_db::test_on_both! {
    #[tokio::test]
    /// A browser subscribes with the server's VAPID key; its push service gets each alert signed
    /// (RFC 8292) and encrypted to the browser's keys (RFC 8291), and the browser reads it. A
    /// subscription its push service says is gone (410) is closed.
    async fn web_push_reaches_a_browser_through_its_push_service(backend) {
        use web_push_native::{
            jwt_simple::prelude::{
                ECDSAP256PublicKeyLike, ES256PublicKey, HashSet, NoCustomClaims, VerificationOptions,
            },
            p256,
        };

        let (_dir, data, _db) = milwaukee_without_calls(backend).await;
        let key = new_push_key(&data);
        // The push service: 201 for the live browser, 410 for the one that unsubscribed.
        let (push_service, addr) = Receiver::start(&[], 201).await;
        let server = start(&data, &[("PORCHLIGHT_CONTACT", "mailto:ops@city.example")]);
        let http = reqwest::Client::new();
        let id = subscriber(&http, &server.url).await;
        let vapid = get_json(&http, format!("{}/v1/push/key", server.url)).await;
        let vapid = vapid["public_key"].as_str().unwrap().to_owned();
        assert_eq!(URL_SAFE_NO_PAD.decode(&vapid).unwrap().len(), 65);

        // The browser's keys, and its PushSubscription as JSON.stringify gives it.
        let browser = p256::SecretKey::random(&mut p256::elliptic_curve::rand_core::OsRng);
        let auth: [u8; 16] = rand_auth();
        let p256dh = URL_SAFE_NO_PAD.encode(browser.public_key().to_sec1_bytes());
        let push_subscription = |path: &str| {
            json!({"kind": "webpush", "subscription": {
                "endpoint": format!("http://{addr}/{path}"), "expirationTime": null,
                "keys": {"p256dh": p256dh, "auth": URL_SAFE_NO_PAD.encode(auth)}}})
        };
        add_channel(&http, &server.url, &id, push_subscription("push/live-browser")).await;
        // A bad key is refused by name.
        let bad = http
            .post(format!("{}/v1/subscriptions/{id}/channels", server.url))
            .json(&json!({"kind": "webpush", "subscription": {"endpoint": format!("http://{addr}/x"), "keys": {"p256dh": "AAAA", "auth": URL_SAFE_NO_PAD.encode(auth)}}}))
            .send()
            .await
            .unwrap();
        assert_eq!(bad.status(), 400);
        assert!(bad.text().await.unwrap().contains("keys.p256dh"));

        push_call(&key, &server.url, "1211372", "TRBL W/SUBJ").await;
        let got = eventually(20, "a push", || {
            let got = push_service.got();
            async move { got.first().cloned() }
        })
        .await;
        let header = |name: &str| got.headers.get(name).map(|v| v.to_str().unwrap().to_owned());
        assert_eq!(header("content-encoding").as_deref(), Some("aes128gcm"));
        assert_eq!(header("ttl").as_deref(), Some("43200"));
        assert_eq!(header("urgency").as_deref(), Some("high"));
        // VAPID: the token is signed by the key the browser subscribed with, for this push
        // service's origin, naming who to contact.
        let authorization = header("authorization").unwrap();
        let (token, k) = authorization
            .strip_prefix("vapid t=")
            .and_then(|rest| rest.split_once(", k="))
            .unwrap_or_else(|| panic!("{authorization}"));
        assert_eq!(k, vapid);
        let public = ES256PublicKey::from_bytes(&URL_SAFE_NO_PAD.decode(k).unwrap()).unwrap();
        let options = VerificationOptions {
            // The crate puts scheme and host in the audience, without the port.
            allowed_audiences: Some(HashSet::from(["http://127.0.0.1".to_owned()])),
            ..Default::default()
        };
        let claims = public.verify_token::<NoCustomClaims>(token, Some(options)).unwrap();
        assert_eq!(claims.subject.as_deref(), Some("mailto:ops@city.example"));
        assert!(claims.expires_at.is_some());
        // The browser decrypts the payload with its own keys.
        let plain = web_push_native::decrypt(got.body.to_vec(), &browser, &auth.into()).unwrap();
        assert_private(&String::from_utf8_lossy(&plain));
        let notification: Value = serde_json::from_slice(&plain).unwrap();
        let alerts = get_json(&http, format!("{}/v1/subscriptions/{id}/alerts", server.url)).await;
        assert_eq!(notification["alert"], alerts["alerts"][0]["id"]);
        assert_eq!(notification["title"], "TRBL W/SUBJ (disorder), 5200 block of N 35th St");
        assert_eq!(notification["body"], alerts["alerts"][0]["context"]);
        assert_eq!(header("topic"), Some(format!("alert{}", notification["alert"])));

        // The browser unsubscribes; its push service answers 410 and the channel is closed.
        push_service.answer_from_now(410);
        push_call(&key, &server.url, "1212185", "TRBL W/SUBJ").await;
        let channels = eventually(20, "the channel gone", || {
            let (http, url) = (http.clone(), format!("{}/v1/subscriptions/{id}/channels", server.url));
            async move {
                let listed = get_json(&http, url).await;
                (listed["channels"][0]["state"] == "gone").then_some(listed)
            }
        })
        .await;
        assert_eq!(channels["channels"].as_array().unwrap().len(), 1);
        let dead = deliveries(&http, &server.url, &id, "?state=dead").await;
        assert_eq!(dead.len(), 1);
        assert_eq!(dead[0]["reason"], "the push subscription is gone");
        assert_eq!(outcomes(&dead[0]), vec![("gone".into(), Some(410))]);
        // Nothing more goes to it.
        let sent = push_service.got().len();
        push_call(&key, &server.url, "1212186", "TRBL W/SUBJ").await;
        tokio::time::sleep(Duration::from_millis(800)).await;
        assert_eq!(push_service.got().len(), sent);
    }
}

fn rand_auth() -> [u8; 16] {
    let mut auth = [0u8; 16];
    auth[..16].copy_from_slice(&uuid::Uuid::new_v4().into_bytes());
    auth
}

porchlight_db::test_on_both! {
    #[tokio::test]
    /// An e-mail channel gets each alert as a real message, plain text and HTML, with a one-click
    /// unsubscribe that stops the e-mails and nothing else.
    async fn e_mail_alerts_arrive_with_a_one_click_unsubscribe(backend) {
        let smtp = SmtpServer::start().await;
        let (_dir, data, _db) = milwaukee_without_calls(backend).await;
        let key = new_push_key(&data);
        let smtp_url = format!("smtp://127.0.0.1:{}", smtp.port);
        let server = start(
            &data,
            &[
                ("PORCHLIGHT_SMTP_URL", &smtp_url),
                ("PORCHLIGHT_MAIL_FROM", "Porchlight Milwaukee <alerts@porchlight.example>"),
            ],
        );
        let http = reqwest::Client::new();
        let id = subscriber(&http, &server.url).await;
        let bad = http
            .post(format!("{}/v1/subscriptions/{id}/channels", server.url))
            .json(&json!({"kind": "email", "address": "resident@localhost"}))
            .send()
            .await
            .unwrap();
        assert_eq!(bad.status(), 400);
        assert!(bad.text().await.unwrap().contains("address"));
        add_channel(&http, &server.url, &id, json!({"kind": "email", "address": "resident@mail.example"})).await;

        push_call(&key, &server.url, "1211372", "TRBL W/SUBJ").await;
        let message = smtp.wait_for(1, 20).await.remove(0);
        // Quoted-printable lines are cut anywhere: join them before looking.
        assert_private(&message.replace("=\r\n", "").replace("=\n", ""));
        let unfolded = message.replace("\r\n ", " ").replace("\n ", " ");
        let header = |name: &str| {
            unfolded
                .lines()
                .find_map(|l| l.strip_prefix(&format!("{name}: ")))
                .unwrap_or_else(|| panic!("no {name} in {message}"))
                .trim()
                .to_owned()
        };
        assert_eq!(header("To"), "resident@mail.example");
        assert!(header("From").contains("alerts@porchlight.example"));
        assert_eq!(header("Subject"), "Porchlight: TRBL W/SUBJ (disorder), 5200 block of N 35th St");
        assert_eq!(header("List-Unsubscribe-Post"), "List-Unsubscribe=One-Click");
        let host = server.url.trim_start_matches("http://").split(':').next().unwrap().to_owned();
        assert!(
            header("Message-ID").starts_with("<delivery-")
                && header("Message-ID").ends_with(&format!("@{host}>"))
        );
        assert!(message.contains("multipart/alternative"));
        assert!(message.contains("text/plain") && message.contains("text/html"));
        let unsubscribe = header("List-Unsubscribe");
        let unsubscribe = unsubscribe.trim_start_matches('<').trim_end_matches('>').to_owned();
        assert!(unsubscribe.starts_with(&format!("{}/v1/unsubscribe/", server.url)), "{unsubscribe}");
        let log = eventually(10, "the e-mail recorded as delivered", || {
            let (http, url, id) = (http.clone(), server.url.clone(), id.clone());
            async move { deliveries(&http, &url, &id, "?state=delivered").await.pop() }
        })
        .await;
        assert_eq!(outcomes(&log), vec![("delivered".into(), Some(250))]);

        // Following the link shows a button and changes nothing; the one-click POST ends the
        // e-mails, and the subscription stays.
        let page = http.get(&unsubscribe).send().await.unwrap();
        assert_eq!(page.status(), 200);
        assert!(page.text().await.unwrap().contains("<form method=\"post\">"));
        let channels_url = format!("{}/v1/subscriptions/{id}/channels", server.url);
        assert_eq!(get_json(&http, &channels_url).await["channels"].as_array().unwrap().len(), 1);
        let done = http.post(&unsubscribe).body("List-Unsubscribe=One-Click").send().await.unwrap();
        assert_eq!(done.status(), 200);
        assert!(get_json(&http, &channels_url).await["channels"].as_array().unwrap().is_empty());
        assert_eq!(http.get(&unsubscribe).send().await.unwrap().status(), 404);
        assert_eq!(http.get(format!("{}/v1/subscriptions/{id}", server.url)).send().await.unwrap().status(), 200);
        push_call(&key, &server.url, "1212185", "TRBL W/SUBJ").await;
        tokio::time::sleep(Duration::from_millis(800)).await;
        assert_eq!(smtp.messages().len(), 1);
    }
}
