//! The sender against a real store and a receiver on loopback: what each outcome does to the
//! delivery and its channel.

use std::{
    sync::{Arc, Mutex},
    time::Duration,
};

use axum::{Router, http::StatusCode, routing::post};
use chrono::Utc;
use porchlight_alerts::Alerts;
use porchlight_core::{
    agency::AgencyId,
    category::Category,
    channel::{State, Target},
    geo::Point,
    privacy::Policy,
    record::CadRecord,
    subscription::Subscription,
};
use porchlight_db::{Backend, testing::TestLocation};
use porchlight_delivery::{Config, Retry, Sender};
use porchlight_store::{PauseRule, Store};

/// A receiver that answers every POST with `status`, counting them.
async fn receiver(status: u16) -> (String, Arc<Mutex<usize>>) {
    let count = Arc::new(Mutex::new(0));
    let seen = count.clone();
    let app = Router::new().route(
        "/{*path}",
        post(move || {
            let seen = seen.clone();
            async move {
                *seen.lock().unwrap() += 1;
                StatusCode::from_u16(status).unwrap()
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (url, count)
}

fn call(id: &str) -> CadRecord {
    porchlight_core::testing::call(
        "testville",
        id,
        "THEFT",
        Category::Property,
        "Dispatched",
        Point::new(43.001, -87.95).unwrap(),
    )
}

/// A store with one subscriber, one channel to `target`, and one alert queued for it.
async fn one_queued(backend: Backend, target: Target) -> (TestStore, Store, uuid::Uuid) {
    let (db, store) = test_store(backend).await;
    store.upsert_agency(&AgencyId::parse("testville").unwrap(), "Testville", "UTC").await.unwrap();
    let alerts = Alerts::load(store.clone()).await.unwrap();
    let sub =
        Subscription::new(Point::new(43.0, -87.95).unwrap(), 1000.0, Default::default(), Utc::now()).unwrap();
    alerts.subscribe(sub.clone()).await.unwrap();
    store.create_channel(sub.id, &target).await.unwrap().unwrap();
    store.apply(&[Policy::default().apply(call("1"))]).await.unwrap();
    assert_eq!(alerts.drain().await.unwrap(), 1);
    (db, store, sub.id)
}

/// A store's folder and database, kept until the test ends.
type TestStore = (tempfile::TempDir, TestLocation);

async fn test_store(backend: Backend) -> (TestStore, Store) {
    let dir = tempfile::tempdir().unwrap();
    let location = TestLocation::new(backend, dir.path()).await;
    let store = Store::connect(&location.location).await.unwrap();
    ((dir, location), store)
}

fn config(give_up_after: Duration, pause_failures: u32) -> Config {
    Config {
        retry: Retry { first: Duration::from_millis(1), max: Duration::from_millis(1), give_up_after },
        pause: PauseRule { failures: pause_failures, after: chrono::Duration::zero() },
        timeout: Duration::from_secs(5),
        ..Config::default()
    }
}

porchlight_db::test_on_both! {
    #[tokio::test]
    async fn a_push_service_saying_gone_closes_the_channel(backend) {
        let (url, count) = receiver(410).await;
        let p256dh = "BLn9b-VR0ca83knDNZ32dCHGyjJp-1riX9ZTN40MqV8K_LpQmLqxC_DoHvqvFXO_nGdAB4W9dogZb_sM-uV4JbY";
        let target =
            Target::WebPush { endpoint: url, p256dh: p256dh.into(), auth: "_ordMnz7uTCmrpBTeUV4Bw".into() };
        let (_dir, store, sub) = one_queued(backend, target).await;
        let sender = Sender::new(store.clone(), config(Duration::from_secs(600), 100)).await.unwrap();
        assert_eq!(sender.drain().await.unwrap(), 1);
        assert_eq!(*count.lock().unwrap(), 1);
        let channels = store.channels(sub).await.unwrap();
        assert_eq!(channels[0].state, State::Gone);
        let log = store.deliveries(sub, None, None, 10).await.unwrap();
        assert_eq!(
            (log[0].state.as_str(), log[0].reason.as_deref()),
            ("dead", Some("the push subscription is gone"))
        );
    }
}

porchlight_db::test_on_both! {
    #[tokio::test]
    /// Retries stop once the window has passed: the delivery is a dead letter, and the channel,
    /// below its pause threshold, stays active.
    async fn retries_end_in_a_dead_letter_when_the_window_closes(backend) {
        let (url, count) = receiver(500).await;
        let (_dir, store, sub) = one_queued(backend, Target::Webhook { url }).await;
        let sender = Sender::new(store.clone(), config(Duration::from_millis(300), 1000)).await.unwrap();
        let mut made = 0;
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while store.deliveries(sub, Some("dead"), None, 10).await.unwrap().is_empty() {
            assert!(std::time::Instant::now() < deadline, "never gave up");
            made += sender.drain().await.unwrap();
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        assert!(made >= 2, "{made}");
        assert_eq!(*count.lock().unwrap(), made);
        let log = store.deliveries(sub, None, None, 10).await.unwrap();
        assert_eq!(log[0].reason.as_deref(), Some("retries ran out"));
        assert_eq!(log[0].attempts.len(), made);
        assert!(log[0].attempts.iter().all(|a| a.outcome == "failed" && a.status == Some(500)));
        let channel = &store.channels(sub).await.unwrap()[0];
        assert_eq!((channel.state, channel.failures as usize), (State::Active, made));
        assert!(channel.failing_since.is_some());
    }
}

porchlight_db::test_on_both! {
    #[tokio::test]
    /// A channel that keeps failing is paused, and what it still had pending goes to the dead
    /// letters with it.
    async fn a_channel_failing_past_the_threshold_is_paused(backend) {
        let (url, _count) = receiver(503).await;
        let (_dir, store, sub) = one_queued(backend, Target::Webhook { url }).await;
        let sender = Sender::new(store.clone(), config(Duration::from_secs(600), 3)).await.unwrap();
        for _ in 0..50 {
            sender.drain().await.unwrap();
            if store.channels(sub).await.unwrap()[0].state == State::Paused {
                break;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        let channel = &store.channels(sub).await.unwrap()[0];
        assert_eq!((channel.state, channel.failures), (State::Paused, 3));
        let log = store.deliveries(sub, None, None, 10).await.unwrap();
        assert_eq!(
            (log[0].state.as_str(), log[0].reason.as_deref()),
            ("dead", Some("channel paused after failing repeatedly"))
        );
        assert_eq!(log[0].attempts.len(), 3);
    }
}

mod support {
    pub mod smtp;
}

porchlight_db::test_on_both! {
    #[tokio::test]
    /// A digest-only subscriber's e-mail gets one digest per closed period holding its held
    /// alerts, once; a period that closed before the address was added is not sent.
    async fn digests_go_by_e_mail_once_per_closed_period(backend) {
        let smtp = support::smtp::SmtpServer::start().await;
        let (_db, store) = test_store(backend).await;
        store.upsert_agency(&AgencyId::parse("testville").unwrap(), "Testville", "UTC").await.unwrap();
        let alerts = Alerts::load(store.clone()).await.unwrap();
        let mut sub =
            Subscription::new(Point::new(43.0, -87.95).unwrap(), 1000.0, Default::default(), Utc::now()).unwrap();
        let document =
            serde_json::from_value(serde_json::json!({"digest_only": true, "digest_hour": 7})).unwrap();
        sub.pacing = porchlight_core::pacing::Pacing::new(document).unwrap();
        alerts.subscribe(sub.clone()).await.unwrap();
        store
            .create_channel(sub.id, &Target::Email { address: "resident@mail.example".into() })
            .await
            .unwrap()
            .unwrap();
        let policy = Policy::default();
        store.apply(&[policy.apply(call("1")), policy.apply(call("2"))]).await.unwrap();
        assert_eq!(alerts.drain().await.unwrap(), 2);

        let smtp_config = porchlight_delivery::Smtp {
            url: format!("smtp://127.0.0.1:{}", smtp.port),
            from: "Porchlight <alerts@porchlight.example>".into(),
        };
        let sender = Sender::new(
            store.clone(),
            Config { smtp: Some(smtp_config), ..config(Duration::from_secs(600), 100) },
        )
        .await
        .unwrap();
        // Held alerts are not sent one by one.
        assert_eq!(sender.drain().await.unwrap(), 0);
        let now = Utc::now();
        // The last period closed before the address was added: nothing to send for it.
        assert_eq!(sender.queue_digests(now).await.unwrap(), 0);
        // A day on, the period holding the alerts has closed: one digest, once.
        let tomorrow = now + chrono::Duration::days(1);
        assert_eq!(sender.queue_digests(tomorrow).await.unwrap(), 1);
        assert_eq!(sender.queue_digests(tomorrow).await.unwrap(), 0);
        assert_eq!(sender.drain().await.unwrap(), 1);
        let message = smtp.wait_for(1, 20).await.remove(0);
        assert!(message.contains("Subject: Porchlight digest: 2 alerts,"), "{message}");
        // Each alert in the plain part (the HTML part is quoted-printable, its lines cut anywhere).
        assert_eq!(message.matches("\n- THEFT (property), 5200 block of N 35th St\n").count(), 2, "{message}");
        assert!(message.contains("Content-Type: text/html"));
        assert!(message.contains("List-Unsubscribe-Post: List-Unsubscribe=One-Click"));
        let log = store.deliveries(sub.id, None, None, 10).await.unwrap();
        assert_eq!(log.len(), 1);
        assert_eq!((log[0].alert_id, log[0].state.as_str()), (None, "delivered"));
        let (from, to) = log[0].digest.unwrap();
        assert!(from <= now && now < to, "{from} {to}");
    }
}
