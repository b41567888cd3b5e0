//! E-mail notices of approved requests, sent to a real SMTP server on loopback (aiosmtpd):
//! each owner of an active camera in the area gets one, once; nobody else gets any.

#[path = "../../delivery/tests/support/smtp.rs"]
mod smtp;
mod support;

use porchlight_portal::Notifier;
use reqwest::Method;
use serde_json::json;
use support::{Site, camera, cast, request_body};

porchlight_db::test_on_both! {
    #[tokio::test]
    async fn owners_in_the_area_are_told_by_e_mail_once(backend) {
        let smtp = smtp::SmtpServer::start().await;
        let site = Site::start(backend).await;
        let cast = cast(&site).await;
        let (officer, moderator) = (cast.who["officer"].clone(), cast.who["moderator"].clone());
        let mut owners = Vec::new();
        // Two cameras of one owner in the area, one owner far away, one with a paused camera.
        for email in ["near@mail.example", "far@mail.example", "paused@mail.example"] {
            site.register(email).await;
            owners.push(site.sign_in(email, "correct horse battery").await);
        }
        camera(&site, &owners[0], 43.0513, -87.9531).await;
        camera(&site, &owners[0], 43.0510, -87.9537).await;
        camera(&site, &owners[1], 43.0692, -87.9531).await;
        let paused = camera(&site, &owners[2], 43.0511, -87.9535).await;
        site.ok(&owners[2], Method::POST, &format!("/v1/portal/cameras/{paused}/pause"), json!({})).await;
        let notifier = Notifier::new(
            &format!("smtp://127.0.0.1:{}", smtp.port),
            "Porchlight <requests@porchlight.example>",
            "https://porchlight.example",
        )
        .unwrap();

        let posted = site
            .ok(
                &officer,
                Method::POST,
                "/v1/portal/agencies/north-pd/requests",
                request_body(43.0512, -87.9534, "Garage door forced, tools taken"),
            )
            .await;
        let id = posted["id"].as_str().unwrap();
        // Nothing before approval.
        assert_eq!(site.portal.send_notices(&notifier).await.unwrap(), 0);
        site.ok(&moderator, Method::POST, &format!("/v1/portal/requests/{id}/approve"), json!({})).await;
        assert_eq!(site.portal.send_notices(&notifier).await.unwrap(), 1);
        // Once: nothing more on the next pass.
        assert_eq!(site.portal.send_notices(&notifier).await.unwrap(), 0);
        let messages = smtp.wait_for(1, 20).await;
        assert_eq!(messages.len(), 1);
        let message = &messages[0];
        assert!(message.contains("To: near@mail.example"), "{message}");
        assert!(message.contains("Subject: A request for camera footage near you: burglary"), "{message}");
        assert!(message.contains("https://porchlight.example/v1/portal/inbox"), "{message}");
        assert!(message.contains("Garage door forced"), "{message}");
        // Nothing in it says where the owner's cameras are.
        assert!(!message.contains("43.051") && !message.contains("-87.953"), "{message}");
    }
}
