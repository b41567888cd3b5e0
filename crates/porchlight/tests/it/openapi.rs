//! The OpenAPI 3.1 document (issue 11): generated from the handlers, served at
//! `/openapi.json`, and complete: every route the server answers is in it, and every operation
//! in it is routed.

use std::collections::BTreeSet;

use serde_json::Value;

use crate::common::Backend;
use crate::common::{Server, milwaukee_without_calls, repo};

/// A path with each `{parameter}` written `{}`, so that the README's `{id}` and the code's
/// `{request}` compare equal.
fn shape(path: &str) -> String {
    let mut out = String::new();
    let mut inside = false;
    for c in path.chars() {
        match c {
            '{' => {
                inside = true;
                out.push_str("{}");
            }
            '}' => inside = false,
            _ if !inside => out.push(c),
            _ => {}
        }
    }
    out
}

/// Every (method, path) the document describes.
fn operations(doc: &Value) -> BTreeSet<(String, String)> {
    let mut ops = BTreeSet::new();
    for (path, item) in doc["paths"].as_object().expect("paths") {
        for method in ["get", "post", "put", "patch", "delete"] {
            if item.get(method).is_some() {
                ops.insert((method.to_uppercase(), path.clone()));
            }
        }
    }
    ops
}

/// The string literal passed to each `.route(` call in the Rust sources under `dir`, or `None`
/// where the path is not a literal.
fn routes_in(dir: &std::path::Path, found: &mut Vec<(String, Option<String>)>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            routes_in(&path, found);
        } else if path.extension().is_some_and(|e| e == "rs") {
            let text = std::fs::read_to_string(&path).unwrap();
            // A file's tests (at its end) may make routers of their own.
            let code = text.split("#[cfg(test)]").next().unwrap();
            for adds in [".route(", ".route_service(", ".nest(", ".nest_service(", ".fallback_service("] {
                for (at, _) in code.match_indices(adds) {
                    let rest = code[at + adds.len()..].trim_start();
                    let literal = rest
                        .strip_prefix('"')
                        .and_then(|r| r.split_once('"'))
                        .map(|(p, _)| format!("{adds}{p}"));
                    found.push((path.display().to_string(), literal.or(Some(adds.to_owned()))));
                }
            }
        }
    }
}

#[tokio::test]
async fn the_openapi_document_describes_every_route_and_every_operation_is_routed() {
    let (_dir, data, _db) = milwaukee_without_calls(Backend::Sqlite).await;
    let server = Server::start(&data);
    let http = reqwest::Client::new();
    let response = http.get(format!("{}/openapi.json", server.url)).send().await.unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["content-type"], "application/json");
    let doc: Value = response.json().await.unwrap();
    assert!(doc["openapi"].as_str().unwrap().starts_with("3.1"), "{}", doc["openapi"]);
    assert_eq!(doc["info"]["title"], "Porchlight");
    let ops = operations(&doc);

    // Each crate's API is built with utoipa-axum's `routes!`, which takes the path from the
    // handler's documentation: a route added any other way would be served undocumented.
    // The web app's pages and assets are made in one fold over its list of routes
    // (`porchlight_web::paths`, which the authorization matrix reads), and the HTTP crate
    // adds the document's own route: nothing else adds a route, so the matrix sees them all.
    let mut found = Vec::new();
    for krate in std::fs::read_dir(repo().join("crates")).unwrap() {
        let src = krate.unwrap().path().join("src");
        if src.is_dir() && !src.ends_with("bench/src") {
            routes_in(&src, &mut found);
        }
    }
    for (file, literal) in &found {
        let allowed = match literal.as_deref() {
            Some(".route(") => file.contains("crates/web/"),
            Some(".route(/openapi.json") => file.contains("crates/http/"),
            _ => false,
        };
        assert!(
            allowed,
            "{file} adds a route outside the OpenAPI document and the web app's list: {literal:?}"
        );
    }

    // Every route the README lists is described.
    let readme = std::fs::read_to_string(repo().join("README.md")).unwrap();
    let shapes: BTreeSet<(String, String)> = ops.iter().map(|(m, p)| (m.clone(), shape(p))).collect();
    let mut listed = 0;
    for line in readme.lines() {
        let Some(rest) = line.strip_prefix("| `") else { continue };
        let Some((method, rest)) = rest.split_once(' ') else { continue };
        if !["GET", "POST", "PUT", "PATCH", "DELETE"].contains(&method) {
            continue;
        }
        let path = rest.split(['`', '?']).next().unwrap();
        assert!(
            shapes.contains(&(method.to_owned(), shape(path))),
            "README's {method} {path} is not in /openapi.json"
        );
        listed += 1;
    }
    assert!(listed > 40, "{listed}");

    // Every described operation is routed: with made-up parameters it may be refused (400, 401,
    // 404 of a thing), but never answered as a route the server does not have.
    assert!(ops.len() >= 70, "{}", ops.len());
    for (method, path) in &ops {
        let concrete = path
            .replace("{agency}", "milwaukee")
            .replace("{token}", "00000000-0000-0000-0000-000000000000")
            .replace("{id}", "00000000-0000-0000-0000-000000000000")
            .replace(['{', '}'], "");
        let url = format!("{}{concrete}", server.url);
        let request = http.request(method.parse().unwrap(), url).header("content-type", "application/json");
        let response = request.body("{}").send().await.unwrap();
        let status = response.status().as_u16();
        let body = response.text().await.unwrap();
        assert_ne!(status, 405, "{method} {path}: method not allowed");
        assert!(!body.contains("route_not_found"), "{method} {path}: not routed ({status})");
        assert!(status < 500, "{method} {path}: {status} {body}");
    }
}
