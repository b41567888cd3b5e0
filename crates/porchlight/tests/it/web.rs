//! The web app in a real browser (issue 10): `web/e2e/app.mjs` drives Debian's Chromium with
//! playwright-core against a `porchlight serve` child with a fresh database holding real
//! Milwaukee calls: the map and a call's story, a resident who subscribes and sees a live
//! alert arrive, the transparency page showing a new camera request; axe-core on each page.
//! Screenshots land in `web/e2e/screenshots/`.

use std::io::Write;

use crate::common::Backend;
use crate::common::{MILWAUKEE_CSV, Server, import, milwaukee_without_calls, new_push_key, porchlight, repo};

#[tokio::test]
async fn residents_see_the_map_subscribe_get_a_live_alert_and_read_the_transparency_page() {
    let (dir, data, _db) = milwaukee_without_calls(Backend::Sqlite).await;
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

/// With `--map-tiles`, the maps draw the configured server's tiles (a tile server on loopback
/// that answers every tile with the same small PNG, and counts what it served).
#[tokio::test]
async fn maps_use_a_configured_tile_server() {
    use std::sync::atomic::{AtomicUsize, Ordering};
    let served = std::sync::Arc::new(AtomicUsize::new(0));
    let counter = served.clone();
    // A 1x1 grey PNG.
    const TILE: &[u8] = &[
        0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0x00, 0x00, 0x00, 0x0d, 0x49, 0x48, 0x44, 0x52, 0x00,
        0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x01, 0x08, 0x00, 0x00, 0x00, 0x00, 0x3a, 0x7e, 0x9b, 0x55, 0x00,
        0x00, 0x00, 0x0a, 0x49, 0x44, 0x41, 0x54, 0x78, 0x9c, 0x63, 0x68, 0x00, 0x00, 0x00, 0x82, 0x00, 0x81,
        0x4c, 0x17, 0xd7, 0xdf, 0x00, 0x00, 0x00, 0x00, 0x49, 0x45, 0x4e, 0x44, 0xae, 0x42, 0x60, 0x82,
    ];
    let app = axum::Router::new().route(
        "/{z}/{x}/{y}",
        axum::routing::get(move || {
            let counter = counter.clone();
            async move {
                counter.fetch_add(1, Ordering::Relaxed);
                ([("content-type", "image/png")], TILE)
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let tiles = format!("http://{}/{{z}}/{{x}}/{{y}}.png", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });

    let (dir, data, _db) = milwaukee_without_calls(Backend::Sqlite).await;
    let sample = dir.path().join("sample.csv");
    let text = std::fs::read_to_string(repo().join(MILWAUKEE_CSV)).unwrap();
    std::fs::write(&sample, text.lines().take(101).collect::<Vec<_>>().join("\n")).unwrap();
    import(&data, "milwaukee", "examples/milwaukee.toml", &sample);
    let server = Server::start_with_env(
        &data,
        &[("PORCHLIGHT_MAP_TILES", tiles.as_str()), ("PORCHLIGHT_MAP_ATTRIBUTION", "Test tiles")],
    );
    let url = server.url.clone();
    let out = tokio::task::spawn_blocking(move || {
        std::process::Command::new("node")
            .arg(repo().join("web/e2e/tiles.mjs"))
            .env("BASE_URL", &url)
            .env("SCREENSHOTS", repo().join("web/e2e/screenshots"))
            .output()
            .expect("run node (Node.js 20)")
    })
    .await
    .unwrap();
    assert!(
        out.status.success(),
        "{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(served.load(Ordering::Relaxed) >= 4, "the tile server was asked for tiles");
    drop(server);
}
