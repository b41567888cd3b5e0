//! The portal over real HTTP on loopback, with real accounts: every route against every role,
//! sessions with their CSRF token, and agencies' API tokens.

mod support;

use reqwest::Method;
use serde_json::json;
use support::{As, Site, cast, fresh};

porchlight_db::test_on_both! {
    #[tokio::test]
    /// Every route of the portal against every role: the status each gets. A route's body names a
    /// fresh resident where the call could succeed, so each success is a real one.
    async fn every_route_against_every_role(backend) {
        let site = Site::start(backend).await;
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
        let matrix: [(Method, &str, [u16; 8]); 33] = [
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
            (Method::GET, "/v1/portal/taxonomy", [200, 200, 200, 200, 200, 200, 200, 200]),
            (Method::POST, "/v1/portal/cameras", [401, 201, 403, 403, 403, 403, 403, 403]),
            (Method::GET, "/v1/portal/cameras", [401, 200, 403, 403, 403, 403, 403, 403]),
            (Method::POST, "/v1/portal/cameras/{camera}/pause", [401, 204, 403, 403, 403, 403, 403, 403]),
            (Method::DELETE, "/v1/portal/cameras/{camera}", [401, 204, 403, 403, 403, 403, 403, 403]),
            (Method::GET, "/v1/portal/inbox", [401, 200, 403, 403, 403, 403, 403, 403]),
            (Method::POST, "/v1/portal/agencies/north-pd/requests", [401, 403, 201, 403, 403, 403, 403, 201]),
            (Method::GET, "/v1/portal/agencies/north-pd/requests", [200, 200, 200, 200, 200, 200, 200, 200]),
            (Method::GET, "/v1/portal/moderation", [401, 403, 403, 403, 403, 200, 403, 403]),
            (Method::POST, "/v1/portal/requests/{pending}/approve", [401, 403, 403, 403, 403, 200, 403, 403]),
            (Method::POST, "/v1/portal/requests/{pending}/reject", [401, 403, 403, 403, 403, 200, 403, 403]),
            (Method::GET, "/v1/portal/my/clips", [401, 200, 403, 403, 403, 403, 403, 403]),
            // The officer may list an agency's clips (here of a request that does not exist);
            // the token lacks clips:read.
            (
                Method::GET,
                "/v1/portal/agencies/north-pd/requests/{missing}/clips",
                [401, 403, 404, 403, 403, 403, 403, 403],
            ),
            (Method::GET, "/v1/portal/agencies/north-pd/requests/all", [401, 403, 200, 403, 403, 403, 403, 200]),
            (
                Method::POST,
                "/v1/portal/agencies/north-pd/requests/{missing}/close",
                [401, 403, 404, 403, 403, 403, 403, 404],
            ),
            (Method::GET, "/v1/portal/push/key", [200, 200, 200, 200, 200, 200, 200, 200]),
            // A resident gets as far as the body (here not a PushSubscription).
            (Method::POST, "/v1/portal/push/subscriptions", [401, 400, 403, 403, 403, 403, 403, 403]),
            (Method::DELETE, "/v1/portal/push/subscriptions/{missing}", [401, 404, 403, 403, 403, 403, 403, 403]),
            (Method::POST, "/v1/portal/requests/{missing}/decline", [401, 404, 403, 403, 403, 403, 403, 403]),
            (
                Method::POST,
                "/v1/portal/requests/{missing}/clips?shared_as=x",
                [401, 404, 403, 403, 403, 403, 403, 403],
            ),
            (Method::DELETE, "/v1/portal/clips/{missing}", [401, 404, 403, 403, 403, 403, 403, 403]),
            // Only a link signed by the portal opens a clip: nobody's role does.
            (
                Method::GET,
                "/v1/portal/clips/{missing}/download?agency=north-pd&by=x&expires=9999999999&sig=x",
                [403, 403, 403, 403, 403, 403, 403, 403],
            ),
        ];
        let resident = cast.who["resident"].clone();
        let officer = cast.who["officer"].clone();
        let north = cast.who["agency admin"].clone();
        let mut wrong = Vec::new();
        for (method, path, expected) in &matrix {
            for (role, want) in roles.iter().zip(expected) {
                let n = fresh();
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
                    "/v1/portal/cameras" => json!({"name": "Porch", "lat": 43.05, "lon": -87.95}),
                    "/v1/portal/agencies/north-pd/requests" => {
                        support::request_body(43.05, -87.95, "Door forced")
                    }
                    "/v1/portal/requests/{pending}/reject" | "/v1/portal/requests/{pending}/approve" => {
                        // A pending request of its own for each try.
                        let made = site
                            .ok(
                                &officer,
                                Method::POST,
                                "/v1/portal/agencies/north-pd/requests",
                                support::request_body(43.05, -87.95, "Door forced"),
                            )
                            .await;
                        path = path.replace("{pending}", made["id"].as_str().unwrap());
                        json!({"reason": "not enough detail"})
                    }
                    p if p.contains("{missing}") => {
                        path = path.replace("{missing}", &uuid_like(n));
                        json!({})
                    }
                    p if p.contains("{camera}") => {
                        // The resident's own camera: nobody else's to pause or delete.
                        let made = support::camera(&site, &resident, 43.0, -87.9).await;
                        path = path.replace("{camera}", &made);
                        json!({})
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
}

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

/// A well-formed id that names nothing.
fn uuid_like(n: usize) -> String {
    format!("00000000-0000-4000-8000-{n:012}")
}
