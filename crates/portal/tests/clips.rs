//! Clips, over HTTP with real accounts: only an asked owner can share; the agency sees the
//! sharer's chosen name, the digest and a link signed for it that expires; every download is
//! recorded; a clip can be withdrawn until its first download; retention deletes it.

mod support;

use reqwest::Method;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use support::{As, Site, camera, cast, request_body};

async fn upload(site: &Site, owner: &As, request: &str, bytes: Vec<u8>, shared_as: &str) -> (u16, Value) {
    let As::Session { cookie, csrf } = owner else { unreachable!() };
    let response = site
        .http
        .post(format!("{}/v1/portal/requests/{request}/clips?shared_as={shared_as}", site.url))
        .header("cookie", cookie)
        .header("x-csrf-token", csrf)
        .header("content-type", "video/mp4")
        .body(bytes)
        .send()
        .await
        .unwrap();
    (response.status().as_u16(), response.json().await.unwrap_or(Value::Null))
}

async fn shared(site: &Site, who: &As, agency: &str, request: &str) -> (u16, Value) {
    let (status, body) = site
        .send(who, Method::GET, &format!("/v1/portal/agencies/{agency}/requests/{request}/clips"), None)
        .await;
    (status.as_u16(), body)
}

async fn fetch(site: &Site, url: &str) -> reqwest::Response {
    site.http.get(format!("{}{url}", site.url)).send().await.unwrap()
}

/// A pseudo-random "video" of `n` bytes.
fn video(n: usize, seed: u8) -> Vec<u8> {
    (0..n).map(|i| (i as u32).wrapping_mul(2_654_435_761).rotate_left(u32::from(seed)) as u8).collect()
}

porchlight_db::test_on_both! {
    #[tokio::test]
    async fn an_owner_shares_the_agency_downloads_and_nobody_else_gets_anything(backend) {
        let site = Site::start(backend).await;
        let cast = cast(&site).await;
        let (officer, moderator) = (cast.who["officer"].clone(), cast.who["moderator"].clone());
        let mut owners = Vec::new();
        for email in ["near@mail.example", "far@mail.example", "declines@mail.example"] {
            site.register(email).await;
            owners.push(site.sign_in(email, "correct horse battery").await);
        }
        camera(&site, &owners[0], 43.0513, -87.9531).await;
        camera(&site, &owners[1], 43.0692, -87.9531).await;
        camera(&site, &owners[2], 43.0510, -87.9538).await;
        let posted = site
            .ok(
                &officer,
                Method::POST,
                "/v1/portal/agencies/north-pd/requests",
                request_body(43.0512, -87.9534, "Garage door forced"),
            )
            .await;
        let request = posted["id"].as_str().unwrap().to_owned();
        // Before approval nobody can share.
        assert_eq!(upload(&site, &owners[0], &request, video(1000, 1), "Maple St").await.0, 404);
        site.ok(&moderator, Method::POST, &format!("/v1/portal/requests/{request}/approve"), json!({})).await;
        // The other owner near it declines: the request leaves their inbox, and nobody learns it.
        let inbox = |who: As| {
            let site = &site;
            async move {
                site.send(&who, Method::GET, "/v1/portal/inbox", None).await.1["requests"]
                    .as_array()
                    .unwrap()
                    .len()
            }
        };
        assert_eq!(inbox(owners[2].clone()).await, 1);
        assert_eq!(
            site.send(&owners[2], Method::POST, &format!("/v1/portal/requests/{request}/decline"), None).await.0,
            204
        );
        assert_eq!(inbox(owners[2].clone()).await, 0);
        assert_eq!(inbox(owners[0].clone()).await, 1);
        // The owner far away was not asked: cannot decline, cannot share.
        assert_eq!(
            site.send(&owners[1], Method::POST, &format!("/v1/portal/requests/{request}/decline"), None).await.0,
            404
        );
        assert_eq!(upload(&site, &owners[1], &request, video(1000, 1), "Far").await.0, 404);

        // An empty clip is refused; one of 12 MB goes to the store in several parts.
        assert_eq!(upload(&site, &owners[0], &request, Vec::new(), "Maple St").await.0, 400);
        let bytes = video(12_000_000, 3);
        let (status, clip) = upload(&site, &owners[0], &request, bytes.clone(), "Maple St neighbour").await;
        assert_eq!(status, 201, "{clip}");
        let digest: String = Sha256::digest(&bytes).iter().map(|b| format!("{b:02x}")).collect();
        assert_eq!(clip["sha256"], digest.as_str());
        assert_eq!(clip["size"], bytes.len());

        // The requesting agency's officer sees the clip by its sharer's chosen name, and nothing
        // of who the owner is, of the owner far away, or of any camera.
        let (status, list) = shared(&site, &officer, "north-pd", &request).await;
        assert_eq!(status, 200);
        assert_eq!(list["clips"].as_array().unwrap().len(), 1);
        let listed = &list["clips"][0];
        assert_eq!(
            (listed["shared_as"].as_str(), listed["sha256"].as_str()),
            (Some("Maple St neighbour"), Some(digest.as_str()))
        );
        let text = list.to_string();
        for secret in ["near@", "far@", "declines@", "declin", "43.0513", "-87.9531", "owner", "camera"] {
            assert!(!text.contains(secret), "{secret} in {text}");
        }
        // Another agency's officer, the agency's token without clips:read, a moderator, the
        // platform admin, the owner: none can list them.
        let south = {
            site.register("officer@south.example").await;
            let admin = cast.who["other agency's admin"].clone();
            site.ok(
                &admin,
                Method::POST,
                "/v1/portal/agencies/south-pd/officers",
                json!({"email": "officer@south.example"}),
            )
            .await;
            site.sign_in("officer@south.example", "correct horse battery").await
        };
        assert_eq!(shared(&site, &south, "north-pd", &request).await.0, 403);
        assert_eq!(shared(&site, &south, "south-pd", &request).await.0, 404);
        for role in ["agency token", "moderator", "platform admin", "resident", "anonymous"] {
            assert!([401, 403].contains(&shared(&site, &cast.who[role], "north-pd", &request).await.0), "{role}");
        }

        // The link serves the bytes, with their digest, and the download is recorded.
        let url = listed["download_url"].as_str().unwrap().to_owned();
        let got = fetch(&site, &url).await;
        assert_eq!(got.status(), 200);
        assert_eq!(got.headers()["x-content-sha256"], digest.as_str());
        assert_eq!(got.bytes().await.unwrap().as_ref(), bytes.as_slice());
        let clip_id = listed["id"].as_str().unwrap().parse().unwrap();
        assert_eq!(porchlight_portal::clips::access_count(&site.portal, clip_id).await.unwrap(), 1);
        // A link altered to name another agency is refused.
        assert_eq!(fetch(&site, &url.replace("agency=north-pd", "agency=south-pd")).await.status(), 403);
        // Downloaded: the owner can no longer withdraw it.
        let (status, body) =
            site.send(&owners[0], Method::DELETE, &format!("/v1/portal/clips/{clip_id}"), None).await;
        assert_eq!((status.as_u16(), body["error"]["code"].as_str()), (409, Some("clip_downloaded")));

        // A second clip, withdrawn before anyone downloads it: gone from the list, its link dead.
        let (_, second) = upload(&site, &owners[0], &request, video(5000, 7), "Maple St neighbour").await;
        let second_id = second["id"].as_str().unwrap();
        let (_, list) = shared(&site, &officer, "north-pd", &request).await;
        let second_url = list["clips"][1]["download_url"].as_str().unwrap().to_owned();
        assert_eq!(
            site.send(&owners[0], Method::DELETE, &format!("/v1/portal/clips/{second_id}"), None).await.0,
            204
        );
        assert_eq!(shared(&site, &officer, "north-pd", &request).await.1["clips"].as_array().unwrap().len(), 1);
        assert_eq!(fetch(&site, &second_url).await.status(), 410);
        let mine = site.send(&owners[0], Method::GET, "/v1/portal/my/clips", None).await.1;
        let states: Vec<(bool, bool)> = mine["clips"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| (c["downloaded"].as_bool().unwrap(), c["withdrawn"].as_bool().unwrap()))
            .collect();
        assert_eq!(states, vec![(true, false), (false, true)]);

        // Retention: past it, the clip is deleted and its link dead.
        let (closed, swept) = site.portal.sweep(chrono::Utc::now() + chrono::Duration::days(91)).await.unwrap();
        assert_eq!((closed, swept), (1, 2));
        assert_eq!(fetch(&site, &url).await.status(), 410);
        assert!(shared(&site, &officer, "north-pd", &request).await.1["clips"].as_array().unwrap().is_empty());
    }
}

porchlight_db::test_on_both! {
    #[tokio::test]
    async fn download_links_expire(backend) {
        let site = Site::start_with(backend, |p| p.with_link_lifetime(chrono::Duration::seconds(-1))).await;
        let cast = cast(&site).await;
        let (officer, moderator) = (cast.who["officer"].clone(), cast.who["moderator"].clone());
        site.register("near@mail.example").await;
        let owner = site.sign_in("near@mail.example", "correct horse battery").await;
        camera(&site, &owner, 43.0513, -87.9531).await;
        let request =
            support::approved_request(&site, &officer, &moderator, 43.0512, -87.9534, "Garage door forced").await;
        assert_eq!(upload(&site, &owner, &request, video(1000, 1), "Maple St").await.0, 201);
        let (_, list) = shared(&site, &officer, "north-pd", &request).await;
        let expired = fetch(&site, list["clips"][0]["download_url"].as_str().unwrap()).await;
        assert_eq!(expired.status(), 410);
        let body: Value = expired.json().await.unwrap();
        assert_eq!(body["error"]["code"], "link_expired");
    }
}
