//! Clips in S3-compatible storage: the same story against a real S3 protocol server on
//! loopback (moto's server, `pip install "moto[server]"`; `.ci/run` installs it).

mod support;

use std::time::Duration;

use porchlight_portal::Portal;
use reqwest::Method;
use support::{As, Site, camera, cast};

/// moto's S3 server on a free port; stopped when dropped.
struct S3Server {
    child: std::process::Child,
    url: String,
}

impl S3Server {
    async fn start() -> Self {
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let child = std::process::Command::new("python3")
            .args(["-m", "moto.server", "-H", "127.0.0.1", "-p", &port.to_string()])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("python3 with moto (pip install \"moto[server]\")");
        let url = format!("http://127.0.0.1:{port}");
        let deadline = std::time::Instant::now() + Duration::from_secs(30);
        while reqwest::get(&url).await.is_err() {
            assert!(
                std::time::Instant::now() < deadline,
                "moto never listened: pip install \"moto[server]\""
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        Self { child, url }
    }
}

impl Drop for S3Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

porchlight_db::test_on_both! {
    #[tokio::test]
    async fn clips_go_to_s3_compatible_storage_and_come_back(backend) {
        let s3 = S3Server::start().await;
        // A bucket, made as any S3 client would (moto takes unsigned requests).
        let made = reqwest::Client::new().put(format!("{}/evidence", s3.url)).send().await.unwrap();
        assert!(made.status().is_success(), "{}", made.status());
        let endpoint = s3.url.clone();
        let site = Site::start_with(backend, move |p: Portal| {
            p.with_clip_store_url(
                "s3://evidence/porchlight",
                [
                    ("aws_endpoint", endpoint.as_str()),
                    ("aws_allow_http", "true"),
                    ("aws_access_key_id", "test"),
                    ("aws_secret_access_key", "test"),
                    ("aws_region", "us-east-1"),
                ],
            )
            .unwrap()
        })
        .await;
        let cast = cast(&site).await;
        let (officer, moderator) = (cast.who["officer"].clone(), cast.who["moderator"].clone());
        site.register("near@mail.example").await;
        let owner = site.sign_in("near@mail.example", "correct horse battery").await;
        camera(&site, &owner, 43.0513, -87.9531).await;
        let request =
            support::approved_request(&site, &officer, &moderator, 43.0512, -87.9534, "Garage door forced").await;

        let bytes: Vec<u8> = (0..7_000_000u32).map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8).collect();
        let As::Session { cookie, csrf } = &owner else { unreachable!() };
        let uploaded = site
            .http
            .post(format!("{}/v1/portal/requests/{request}/clips?shared_as=Neighbour", site.url))
            .header("cookie", cookie)
            .header("x-csrf-token", csrf)
            .header("content-type", "video/mp4")
            .body(bytes.clone())
            .send()
            .await
            .unwrap();
        assert_eq!(uploaded.status(), 201);
        // The bytes are in the bucket, under the prefix.
        let listing = reqwest::get(format!("{}/evidence?list-type=2&prefix=porchlight/", s3.url))
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        assert!(listing.contains(&format!("porchlight/{request}/")), "{listing}");
        let list = site
            .send(&officer, Method::GET, &format!("/v1/portal/agencies/north-pd/requests/{request}/clips"), None)
            .await
            .1;
        let url = list["clips"][0]["download_url"].as_str().unwrap();
        let got = site.http.get(format!("{}{url}", site.url)).send().await.unwrap();
        assert_eq!(got.status(), 200);
        assert_eq!(got.bytes().await.unwrap().as_ref(), bytes.as_slice());
        // Withdrawn or swept, a clip leaves the bucket too.
        let (_, swept) = site.portal.sweep(chrono::Utc::now() + chrono::Duration::days(91)).await.unwrap();
        assert_eq!(swept, 1);
        let listing = reqwest::get(format!("{}/evidence?list-type=2&prefix=porchlight/", s3.url))
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        assert!(!listing.contains(&format!("porchlight/{request}/")), "{listing}");
    }
}
