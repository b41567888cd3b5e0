//! The web app in a real browser (issue 10): `web/e2e/app.mjs` drives Debian's Chromium with
//! playwright-core against a `porchlight serve` child with a fresh database holding real
//! Milwaukee calls: the map and a call's story, a resident who subscribes and sees a live
//! alert arrive, the transparency page showing a new camera request; axe-core on each page.
//! Screenshots land in `web/e2e/screenshots/`.

use std::io::Write;

use crate::common::{MILWAUKEE_CSV, Server, import, milwaukee_without_calls, new_push_key, porchlight, repo};

#[tokio::test]
async fn residents_see_the_map_subscribe_get_a_live_alert_and_read_the_transparency_page() {
    let (dir, data) = milwaukee_without_calls();
    // Three hundred real calls for the map.
    let sample = dir.path().join("sample.csv");
    let text = std::fs::read_to_string(repo().join(MILWAUKEE_CSV)).unwrap();
    std::fs::write(&sample, text.lines().take(301).collect::<Vec<_>>().join("\n")).unwrap();
    import(&data, "milwaukee", "examples/milwaukee.toml", &sample);
    let secret: String = new_push_key(&data).iter().map(|b| format!("{b:02x}")).collect();
    let out = porchlight()
        .args(["portal", "admin", "--email", "ops@city.example", "--data-dir"])
        .arg(&data)
        .env("PORCHLIGHT_ADMIN_PASSWORD", "a long operator passphrase")
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));

    let server = Server::start(&data);
    let sample = sample.clone();
    let out = tokio::task::spawn_blocking(move || {
        let out = std::process::Command::new("node")
            .arg(repo().join("web/e2e/app.mjs"))
            .env("BASE_URL", &server.url)
            .env("PUSH_SECRET", secret)
            .env("ADMIN_EMAIL", "ops@city.example")
            .env("ADMIN_PASSWORD", "a long operator passphrase")
            .env("SCREENSHOTS", repo().join("web/e2e/screenshots"))
            .env("SAMPLE_CSV", &sample)
            .output()
            .expect("run node (Node.js 20)");
        drop(server);
        out
    })
    .await
    .unwrap();
    std::io::stdout().write_all(&out.stdout).unwrap();
    assert!(
        out.status.success(),
        "the browser test failed:\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("web app: all checks passed"));
}
