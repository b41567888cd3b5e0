//! The portal over real HTTP on loopback, with real accounts: sessions with their CSRF token,
//! and agencies' API tokens. Every route against every role is in the whole server's matrix,
//! crates/porchlight/tests/it/authorization.rs.

mod support;

use reqwest::Method;
use serde_json::json;
use support::{As, Site};

porchlight_db::test_on_both! {
    #[tokio::test]
    /// A session's changes need its CSRF token; reads do not. Signing out ends the session.
    async fn changes_need_the_csrf_token_and_sign_out_ends_the_session(backend) {
        let site = Site::start(backend).await;
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
}

porchlight_db::test_on_both! {
    #[tokio::test]
    /// A wrong password and an unknown address get the same answer; passwords are never stored.
    async fn sign_in_refusals_say_nothing_about_who_exists(backend) {
        let site = Site::start(backend).await;
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
}

porchlight_db::test_on_both! {
    #[tokio::test]
    /// Until a platform administrator verifies it, an agency's administrator can add no officer;
    /// a revoked token is refused.
    async fn unverified_agencies_and_revoked_tokens_are_refused(backend) {
        let site = Site::start(backend).await;
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
}

porchlight_db::test_on_both! {
    #[tokio::test]
    /// An account holds at most 20 cameras and 20 browsers; the next is 409 with the reason.
    async fn an_account_holds_at_most_twenty_cameras_and_twenty_browsers(backend) {
        use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
        use web_push_native::p256;
        let site = Site::start(backend).await;
        site.register("resident@mail.example").await;
        let resident = site.sign_in("resident@mail.example", "correct horse battery").await;
        let key = p256::SecretKey::random(&mut p256::elliptic_curve::rand_core::OsRng);
        let p256dh = URL_SAFE_NO_PAD.encode(key.public_key().to_sec1_bytes());
        for n in 0..21 {
            let camera = json!({"name": format!("Camera {n}"), "lat": 43.05, "lon": -87.95});
            let browser = json!({"endpoint": format!("https://push.example/{n}"),
                "keys": {"p256dh": p256dh, "auth": URL_SAFE_NO_PAD.encode([7u8; 16])}});
            let made = [
                site.send(&resident, Method::POST, "/v1/portal/cameras", Some(camera)).await,
                site.send(&resident, Method::POST, "/v1/portal/push/subscriptions", Some(browser)).await,
            ];
            for ((status, body), code) in made.iter().zip(["too_many_cameras", "too_many_browsers"]) {
                match n {
                    0..20 => assert_eq!(status.as_u16(), 201, "{body}"),
                    _ => assert_eq!((status.as_u16(), body["error"]["code"].as_str()), (409, Some(code)), "{body}"),
                }
            }
        }
    }
}
