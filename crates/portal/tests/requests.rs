//! The story of a video request, over HTTP with real accounts: an officer asks, a moderator
//! approves, the owner of a camera in the area finds it in their inbox and others do not, the
//! public sees it with its area generalized; and each rule a request must keep.

mod support;

use reqwest::Method;
use serde_json::{Value, json};
use support::{As, Site, camera, cast, request_body};

async fn inbox(site: &Site, owner: &As) -> Vec<Value> {
    let (status, body) = site.send(owner, Method::GET, "/v1/portal/inbox", None).await;
    assert_eq!(status, 200, "{body}");
    body["requests"].as_array().unwrap().clone()
}

porchlight_db::test_on_both! {
    #[tokio::test]
    async fn a_request_reaches_the_cameras_in_its_area_and_the_public_sees_it_generalized(backend) {
        let site = Site::start(backend).await;
        let cast = cast(&site).await;
        let (officer, moderator) = (cast.who["officer"].clone(), cast.who["moderator"].clone());
        // Owners: one with a camera inside the area, one 2 km away, one inside but paused, and a
        // resident with no camera.
        let mut owners = Vec::new();
        for email in ["near@mail.example", "far@mail.example", "paused@mail.example", "none@mail.example"] {
            site.register(email).await;
            owners.push(site.sign_in(email, "correct horse battery").await);
        }
        let near_camera = camera(&site, &owners[0], 43.0513, -87.9531).await;
        camera(&site, &owners[1], 43.0692, -87.9531).await;
        let paused = camera(&site, &owners[2], 43.0511, -87.9536).await;
        site.ok(&owners[2], Method::POST, &format!("/v1/portal/cameras/{paused}/pause"), json!({})).await;

        let posted = site
            .ok(
                &officer,
                Method::POST,
                "/v1/portal/agencies/north-pd/requests",
                request_body(43.0512, -87.9534, "Garage door forced, tools taken"),
            )
            .await;
        assert_eq!((posted["state"].as_str(), posted["flags"].as_array().unwrap().len()), (Some("pending"), 0));
        let id = posted["id"].as_str().unwrap().to_owned();
        // Nothing is public, and no inbox holds it, before a moderator approves.
        let public =
            site.send(&As::Anonymous, Method::GET, "/v1/portal/agencies/north-pd/requests", None).await.1;
        assert!(public["requests"].as_array().unwrap().is_empty());
        assert!(inbox(&site, &owners[0]).await.is_empty());
        let queue = site.send(&moderator, Method::GET, "/v1/portal/moderation", None).await.1;
        assert_eq!(queue["requests"][0]["id"], id.as_str());
        let approved =
            site.ok(&moderator, Method::POST, &format!("/v1/portal/requests/{id}/approve"), json!({})).await;
        assert_eq!(approved["state"], "approved");
        let (status, again) = site
            .send(&moderator, Method::POST, &format!("/v1/portal/requests/{id}/approve"), Some(json!({})))
            .await;
        assert_eq!((status.as_u16(), again["error"]["code"].as_str()), (409, Some("request_not_pending")));

        // The owner near it is asked, about their own camera; nobody else is.
        let asked = inbox(&site, &owners[0]).await;
        assert_eq!(asked.len(), 1);
        assert_eq!(asked[0]["request"]["id"], id.as_str());
        assert_eq!(asked[0]["cameras"], json!([near_camera]));
        for other in &owners[1..] {
            assert!(inbox(&site, other).await.is_empty());
        }
        // The public sees the request, its area only rounded, and nothing of any camera.
        let public =
            site.send(&As::Anonymous, Method::GET, "/v1/portal/agencies/north-pd/requests", None).await.1;
        let shown = &public["requests"][0];
        assert_eq!((shown["id"].as_str(), shown["state"].as_str()), (Some(id.as_str()), Some("approved")));
        assert_eq!((shown["area"]["lat"].as_f64(), shown["area"]["lon"].as_f64()), (Some(43.05), Some(-87.95)));
        assert_eq!(shown["area"]["radius_m"].as_f64().unwrap() % 500.0, 0.0);
        let text = public.to_string();
        for secret in ["43.0512", "-87.9534", "43.0513", "-87.9531", "camera", "near@"] {
            assert!(!text.contains(secret), "{secret} in {text}");
        }
        // The agency sees all of its requests; closing one takes it out of inboxes for good.
        let all = site.send(&officer, Method::GET, "/v1/portal/agencies/north-pd/requests/all", None).await.1;
        assert_eq!(
            all["requests"][0]["area"]["lat"].as_f64(),
            Some(43.0512),
            "the agency sees its own exact area"
        );
        let close = format!("/v1/portal/agencies/north-pd/requests/{id}/close");
        assert_eq!(site.send(&officer, Method::POST, &close, None).await.0, 204);
        assert!(inbox(&site, &owners[0]).await.is_empty());
        assert_eq!(site.send(&officer, Method::POST, &close, None).await.0, 404);
        let public =
            site.send(&As::Anonymous, Method::GET, "/v1/portal/agencies/north-pd/requests", None).await.1;
        assert_eq!(public["requests"][0]["state"], "closed");
        // An approved request closes by itself after 30 days.
        support::approved_request(&site, &officer, &moderator, 43.0512, -87.9534, "Bike taken from porch").await;
        assert_eq!(inbox(&site, &owners[0]).await.len(), 1);
        assert_eq!(site.portal.sweep(chrono::Utc::now() + chrono::Duration::days(29)).await.unwrap(), (0, 0));
        assert_eq!(site.portal.sweep(chrono::Utc::now() + chrono::Duration::days(31)).await.unwrap(), (1, 0));
        assert!(inbox(&site, &owners[0]).await.is_empty());

        // An officer of another agency cannot post for this one.
        let south = {
            let admin = cast.who["other agency's admin"].clone();
            site.register("officer@south.example").await;
            site.ok(
                &admin,
                Method::POST,
                "/v1/portal/agencies/south-pd/officers",
                json!({"email": "officer@south.example"}),
            )
            .await;
            site.sign_in("officer@south.example", "correct horse battery").await
        };
        let (status, body) = site
            .send(
                &south,
                Method::POST,
                "/v1/portal/agencies/north-pd/requests",
                Some(request_body(43.05, -87.95, "x")),
            )
            .await;
        assert_eq!((status.as_u16(), body["error"]["code"].as_str()), (403, Some("officers_only")));
    }
}

porchlight_db::test_on_both! {
    #[tokio::test]
    async fn requests_keep_to_their_bounds_and_flagged_ones_are_refused(backend) {
        let site = Site::start(backend).await;
        let cast = cast(&site).await;
        let (officer, moderator) = (cast.who["officer"].clone(), cast.who["moderator"].clone());
        let post = |body: Value| {
            let (site, officer) = (&site, officer.clone());
            async move { site.send(&officer, Method::POST, "/v1/portal/agencies/north-pd/requests", Some(body)).await }
        };
        let now = chrono::Utc::now();
        let cases: [(&str, Value, &str); 5] = [
            ("too wide", json!({"area": {"lat": 43.05, "lon": -87.95, "radius_m": 2000}}), "area:"),
            ("free text for the type", json!({"incident_type": "suspicious person"}), "incident_type:"),
            (
                "in the future",
                json!({"window_start": now, "window_end": now + chrono::Duration::hours(1)}),
                "window_end:",
            ),
            (
                "too long a window",
                json!({"window_start": now - chrono::Duration::hours(14), "window_end": now - chrono::Duration::hours(1)}),
                "window:",
            ),
            (
                "too old",
                json!({"window_start": now - chrono::Duration::days(40), "window_end": now - chrono::Duration::days(40) + chrono::Duration::hours(1)}),
                "window_start:",
            ),
        ];
        for (what, change, field) in cases {
            let mut body = request_body(43.05, -87.95, "Door forced");
            for (k, v) in change.as_object().unwrap() {
                body[k] = v.clone();
            }
            let (status, answer) = post(body).await;
            assert_eq!(status, 400, "{what}: {answer}");
            assert!(answer["error"]["message"].as_str().unwrap().starts_with(field), "{what}: {answer}");
        }

        // Described by race alone, or about a protest: flagged, and no moderator can approve it.
        for description in ["Looking for a black male seen near the alley", "Footage of the protest on Main St"] {
            let (status, posted) = post(request_body(43.05, -87.95, description)).await;
            assert_eq!(status, 201);
            assert_eq!(posted["flags"].as_array().unwrap().len(), 1, "{posted}");
            let id = posted["id"].as_str().unwrap();
            let (status, refused) = site
                .send(&moderator, Method::POST, &format!("/v1/portal/requests/{id}/approve"), Some(json!({})))
                .await;
            assert_eq!((status.as_u16(), refused["error"]["code"].as_str()), (409, Some("request_flagged")));
            let rejected = site
                .ok(
                    &moderator,
                    Method::POST,
                    &format!("/v1/portal/requests/{id}/reject"),
                    json!({"reason": "describes people by race alone or concerns lawful activity"}),
                )
                .await;
            assert_eq!(rejected["state"], "rejected");
        }
        // Refusals are public, with their reason.
        let public =
            site.send(&As::Anonymous, Method::GET, "/v1/portal/agencies/north-pd/requests", None).await.1;
        let states: Vec<&str> =
            public["requests"].as_array().unwrap().iter().map(|r| r["state"].as_str().unwrap()).collect();
        assert_eq!(states, ["rejected", "rejected"]);
        assert!(public["requests"][0]["reason"].as_str().is_some());

        // An agency has at most 20 open requests.
        for n in 0..20 {
            let (status, answer) = post(request_body(43.05, -87.95, "Door forced")).await;
            assert_eq!(status, 201, "request {n}: {answer}");
        }
        let (status, answer) = post(request_body(43.05, -87.95, "Door forced")).await;
        assert_eq!((status.as_u16(), answer["error"]["code"].as_str()), (409, Some("too_many_open_requests")));
    }
}
