//! The portal inside `porchlight serve`: the operator makes the first platform administrator
//! at the console, who signs in over the API of the same server as the incident world.

use serde_json::{Value, json};

use crate::common::{Backend, Server};
use crate::common::{database, porchlight_at};

porchlight_db::test_on_both! {
    #[tokio::test]
    async fn the_operator_makes_the_first_platform_administrator(backend) {
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("data");
        let _db = database(backend, &data).await;
        let out = porchlight_at(&data)
            .args(["portal", "admin", "--email", "Ops@City.Example", "--data-dir"])
            .arg(&data)
            .env("PORCHLIGHT_ADMIN_PASSWORD", "a long operator passphrase")
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "ops@city.example is a platform administrator");
        // Too short a password is refused by name.
        let short = porchlight_at(&data)
            .args(["portal", "admin", "--email", "other@city.example", "--data-dir"])
            .arg(&data)
            .env("PORCHLIGHT_ADMIN_PASSWORD", "short")
            .output()
            .unwrap();
        assert!(!short.status.success());
        assert!(String::from_utf8_lossy(&short.stderr).contains("password: must be at least 12 characters"));

        let server = Server::start(&data);
        let http = reqwest::Client::new();
        let signed_in = http
            .post(format!("{}/v1/portal/sessions", server.url))
            .json(&json!({"email": "ops@city.example", "password": "a long operator passphrase"}))
            .send()
            .await
            .unwrap();
        assert_eq!(signed_in.status(), 201);
        let cookie = signed_in.headers()["set-cookie"].to_str().unwrap().split(';').next().unwrap().to_owned();
        let session: Value = signed_in.json().await.unwrap();
        assert_eq!(session["account"]["role"], "platform_admin");
        let made = http
            .post(format!("{}/v1/portal/agencies", server.url))
            .header("cookie", &cookie)
            .header("x-csrf-token", session["csrf_token"].as_str().unwrap())
            .json(&json!({"id": "milwaukee-pd", "name": "Milwaukee Police Department"}))
            .send()
            .await
            .unwrap();
        assert_eq!(made.status(), 201);
        // The incident world's API is served beside it, unchanged.
        assert_eq!(http.get(format!("{}/v1/agencies", server.url)).send().await.unwrap().status(), 200);
        // Its database is its own file, or its own schema of the PostgreSQL database (where
        // the data folder holds no database file at all).
        let files = [data.join("portal.db").exists(), data.join("porchlight.db").exists()];
        assert_eq!(files, [backend == Backend::Sqlite; 2]);
    }
}
