//! The portal's part of the transparency log (issue 9): each grant of power, each request's
//! life and each clip access is written as the log's entry in the event's own transaction,
//! with no personal data, and the report built from them counts what happened.

mod support;

use porchlight_ledger::entry::Entry;
use porchlight_ledger::report::Report;
use reqwest::Method;
use serde_json::{Value, json};
use support::{Site, camera, cast, request_body};

porchlight_db::test_on_both! {
    #[tokio::test]
    async fn grants_requests_and_clip_accesses_are_logged_without_personal_data(backend) {
        let site = Site::start(backend).await;
        let cast = cast(&site).await;
        let (officer, moderator) = (cast.who["officer"].clone(), cast.who["moderator"].clone());
        site.register("near@mail.example").await;
        let owner = site.sign_in("near@mail.example", "correct horse battery").await;
        camera(&site, &owner, 43.0513, -87.9531).await;

        // One request approved, shared to and downloaded, then closed; one refused.
        let post = |description: &'static str| {
            let (site, officer) = (&site, officer.clone());
            async move {
                let body = request_body(43.0512, -87.9534, description);
                site.ok(&officer, Method::POST, "/v1/portal/agencies/north-pd/requests", body).await["id"]
                    .as_str()
                    .unwrap()
                    .to_owned()
            }
        };
        let shared = post("Garage door forced on Maple St").await;
        site.ok(&moderator, Method::POST, &format!("/v1/portal/requests/{shared}/approve"), json!({})).await;
        let refused = post("Anyone walking on Maple St").await;
        site.ok(
            &moderator,
            Method::POST,
            &format!("/v1/portal/requests/{refused}/reject"),
            json!({"reason": "no crime named"}),
        )
        .await;
        let support::As::Session { cookie, csrf } = &owner else { unreachable!() };
        let uploaded = site
            .http
            .post(format!("{}/v1/portal/requests/{shared}/clips?shared_as=Neighbour", site.url))
            .header("cookie", cookie)
            .header("x-csrf-token", csrf)
            .header("content-type", "video/mp4")
            .body(vec![7u8; 4000])
            .send()
            .await
            .unwrap();
        assert_eq!(uploaded.status(), 201);
        let clip: Value = uploaded.json().await.unwrap();
        let list = site
            .send(&officer, Method::GET, &format!("/v1/portal/agencies/north-pd/requests/{shared}/clips"), None)
            .await
            .1;
        let url = list["clips"][0]["download_url"].as_str().unwrap();
        assert_eq!(site.http.get(format!("{}{url}", site.url)).send().await.unwrap().status(), 200);
        site.ok(
            &officer,
            Method::POST,
            &format!("/v1/portal/agencies/north-pd/requests/{shared}/close"),
            json!({}),
        )
        .await;

        let rows = site.portal.transparency_after(0, 1000).await.unwrap();
        let seqs: Vec<i64> = rows.iter().map(|(s, _)| *s).collect();
        assert!(seqs.windows(2).all(|w| w[0] < w[1]));
        let texts: Vec<&str> = rows.iter().map(|(_, t)| t.as_str()).collect();
        let entries: Vec<Entry> = texts.iter().map(|t| Entry::parse(t).unwrap()).collect();
        // Every entry is stored in its canonical form.
        for (text, entry) in texts.iter().zip(&entries) {
            assert_eq!(*text, entry.to_canonical());
        }
        let accounts: Vec<(String, Option<String>)> = entries
            .iter()
            .filter_map(|e| match e {
                Entry::Account { event, agency, .. } => Some((event.clone(), agency.clone())),
                _ => None,
            })
            .collect();
        for expected in [
            ("platform_admin.appointed", None),
            ("agency.verified", Some("north-pd")),
            ("agency.verified", Some("south-pd")),
            ("moderator.appointed", None),
            ("agency_admin.appointed", Some("north-pd")),
            ("officer.added", Some("north-pd")),
        ] {
            let expected = (expected.0.to_string(), expected.1.map(str::to_string));
            assert!(accounts.contains(&expected), "{expected:?} not in {accounts:?}");
        }
        let life: Vec<(String, &str)> = entries
            .iter()
            .filter_map(|e| match e {
                Entry::RequestCreated { request, .. } => Some((request.clone(), "created")),
                Entry::RequestModerated { request, decision, .. } => {
                    Some((request.clone(), if decision == "approved" { "approved" } else { "refused" }))
                }
                Entry::RequestPublished { request, .. } => Some((request.clone(), "published")),
                Entry::ClipAccessed { request, .. } => Some((request.clone(), "accessed")),
                Entry::RequestEnded { request, .. } => Some((request.clone(), "ended")),
                _ => None,
            })
            .collect();
        let of = |id: &str| life.iter().filter(|(r, _)| r == id).map(|(_, k)| *k).collect::<Vec<_>>();
        assert_eq!(of(&shared), ["created", "approved", "published", "accessed", "ended"]);
        assert_eq!(of(&refused), ["created", "refused"]);
        let Some(Entry::RequestModerated { reason, .. }) =
            entries.iter().find(|e| matches!(e, Entry::RequestModerated { request, .. } if *request == refused))
        else {
            unreachable!()
        };
        assert_eq!(reason.as_deref(), Some("no crime named"));
        let Some(Entry::ClipAccessed { clip_sha256, agency, .. }) =
            entries.iter().find(|e| matches!(e, Entry::ClipAccessed { .. }))
        else {
            unreachable!()
        };
        assert_eq!((clip_sha256.as_str(), agency.as_str()), (clip["sha256"].as_str().unwrap(), "north-pd"));
        let Some(Entry::RequestEnded { how, clips_shared, clip_accesses, .. }) =
            entries.iter().find(|e| matches!(e, Entry::RequestEnded { .. }))
        else {
            unreachable!()
        };
        assert_eq!((how.as_str(), *clips_shared, *clip_accesses), ("closed", 1, 1));

        // No personal data: no address, name, description, contact, camera or place.
        for secret in [
            "@",
            "Maple",
            "Detective",
            "414-555",
            "Neighbour",
            "correct horse",
            "Porch",
            "43.05",
            "87.95",
            "burglary",
        ] {
            let hits: Vec<&&str> = texts.iter().filter(|t| t.contains(secret)).collect();
            assert!(hits.is_empty(), "{secret} in {hits:?}");
        }

        // The report counts them.
        let report = Report::from_entries(texts.iter().copied());
        let month = report.agencies["north-pd"].values().next().unwrap();
        assert_eq!(
            (
                month.requests_made,
                month.requests_approved,
                month.requests_refused,
                month.clips_shared,
                month.clips_accessed
            ),
            (2, 1, 1, 1, 1)
        );
    }
}
