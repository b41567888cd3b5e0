//! The web app (issue 10), embedded: the pages built from `web/` by Vite (see build.rs),
//! served by the same binary with nothing fetched from elsewhere at runtime. One HTML shell
//! for every page path (the app draws the page from the public API), the hashed assets with
//! long caching, and the app's configuration (an optional map tile server).
//!
//! Must never: call anything but Porchlight's own public API from the pages, or load a script,
//! style or font from another origin.

use axum::extract::{Path, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{MethodRouter, get};
use axum::{Json, Router};
use include_dir::{Dir, include_dir};
use serde::Serialize;

static DIST: Dir<'static> = include_dir!("$OUT_DIR/dist");

/// The pages' paths: each is answered with the app's shell.
pub const PAGES: [&str; 13] = [
    "/",
    "/incidents/{id}",
    "/subscribe",
    "/alerts/{id}",
    "/transparency",
    "/account",
    "/cameras",
    "/inbox",
    "/officer",
    "/moderation",
    "/agency",
    "/admin",
    "/api",
];

/// What the pages are told about the installation.
#[derive(Debug, Clone, Default, Serialize)]
pub struct WebConfig {
    /// A tile URL template (`https://tiles.example/{z}/{x}/{y}.png`); without one the maps
    /// draw a plain basemap.
    pub tiles: Option<String>,
    /// The tiles' attribution, shown on the map.
    pub attribution: Option<String>,
}

/// Every route of the web app: the pages (each the app's shell), the hashed assets, the
/// service worker and the app's configuration. The router is made from this list and nothing
/// else, so [`paths`] names every route it has (the authorization matrix test counts on it).
fn routes() -> Vec<(&'static str, MethodRouter<std::sync::Arc<WebConfig>>)> {
    let pages = PAGES.into_iter().map(|page| (page, get(shell)));
    pages
        .chain([
            ("/assets/{*file}", get(asset)),
            ("/sw.js", get(service_worker)),
            ("/app/config.json", get(app_config)),
        ])
        .collect()
}

/// The path of every route of the web app; all of them answer GET alone.
pub fn paths() -> Vec<&'static str> {
    routes().into_iter().map(|(path, _)| path).collect()
}

/// The web app's routes.
pub fn router(config: WebConfig) -> Router {
    routes()
        .into_iter()
        .fold(Router::new(), |router, (path, route)| router.route(path, route))
        .with_state(std::sync::Arc::new(config))
}

/// The Content-Security-Policy of the pages: everything from this origin; images also from the
/// tile server when there is one (its `{s}` subdomains as a wildcard). No inline scripts or
/// styles: the pages colour with classes, and the map and chart libraries position things
/// through the CSSOM (`element.style`), which a policy does not govern.
fn policy(config: &WebConfig) -> String {
    let tiles = config
        .tiles
        .as_deref()
        .and_then(|t| {
            t.split_once("://").map(|(scheme, rest)| (scheme, rest.split('/').next().unwrap_or("")))
        })
        .map(|(scheme, host)| format!(" {scheme}://{}", host.replace("{s}", "*").replace(['{', '}'], "")))
        .unwrap_or_default();
    format!(
        "default-src 'self'; img-src 'self' data:{tiles}; style-src 'self'; \
         connect-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'"
    )
}

async fn shell(State(config): State<std::sync::Arc<WebConfig>>) -> Response {
    let Some(index) = DIST.get_file("index.html") else {
        return (StatusCode::INTERNAL_SERVER_ERROR, "the web app was not built").into_response();
    };
    let mut response = (
        [(header::CONTENT_TYPE, "text/html; charset=utf-8"), (header::CACHE_CONTROL, "no-cache")],
        index.contents(),
    )
        .into_response();
    if let Ok(value) = HeaderValue::from_str(&policy(&config)) {
        response.headers_mut().insert(header::CONTENT_SECURITY_POLICY, value);
    }
    response
}

async fn asset(Path(file): Path<String>) -> Response {
    let Some(found) = DIST.get_file(format!("assets/{file}")) else {
        return (StatusCode::NOT_FOUND, "no such asset").into_response();
    };
    let kind = match file.rsplit_once('.').map(|(_, ext)| ext) {
        Some("js") => "text/javascript; charset=utf-8",
        Some("css") => "text/css; charset=utf-8",
        Some("png") => "image/png",
        Some("svg") => "image/svg+xml",
        Some("woff2") => "font/woff2",
        _ => "application/octet-stream",
    };
    (
        [(header::CONTENT_TYPE, kind), (header::CACHE_CONTROL, "public, max-age=31536000, immutable")],
        found.contents(),
    )
        .into_response()
}

/// The service worker, at the root so that it may serve every page; never cached long, so a
/// new version reaches browsers.
async fn service_worker() -> Response {
    match DIST.get_file("sw.js") {
        Some(file) => (
            [(header::CONTENT_TYPE, "text/javascript; charset=utf-8"), (header::CACHE_CONTROL, "no-cache")],
            file.contents(),
        )
            .into_response(),
        None => (StatusCode::NOT_FOUND, "no service worker").into_response(),
    }
}

async fn app_config(State(config): State<std::sync::Arc<WebConfig>>) -> Json<WebConfig> {
    Json((*config).clone())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_built_app_is_embedded_with_its_assets() {
        let index = std::str::from_utf8(DIST.get_file("index.html").unwrap().contents()).unwrap();
        let scripts: Vec<&str> =
            index.split("src=\"/assets/").skip(1).map(|s| s.split('"').next().unwrap()).collect();
        assert!(!scripts.is_empty(), "{index}");
        for script in scripts {
            assert!(DIST.get_file(format!("assets/{script}")).is_some(), "{script}");
        }
        assert!(!index.contains("http://") && !index.contains("https://"), "nothing from elsewhere: {index}");
    }

    #[test]
    fn the_policy_lets_images_come_only_from_here_or_the_tile_server() {
        assert!(policy(&WebConfig::default()).contains("img-src 'self' data:;"));
        let tiles = WebConfig {
            tiles: Some("https://{s}.tile.example.org/{z}/{x}/{y}.png".into()),
            attribution: None,
        };
        assert!(
            policy(&tiles).contains("img-src 'self' data: https://*.tile.example.org;"),
            "{}",
            policy(&tiles)
        );
        // No inline scripts or styles, whatever the configuration (issue 13); the browser test
        // (tests/it/web.rs) fails on any violation the pages would cause.
        for config in [WebConfig::default(), tiles] {
            let csp = policy(&config);
            assert!(!csp.contains("unsafe-inline") && !csp.contains("unsafe-eval"), "{csp}");
            assert!(csp.contains("default-src 'self'") && csp.contains("style-src 'self';"), "{csp}");
        }
    }
}

#[cfg(test)]
mod routes {
    /// Every page the app routes to (web/src/main.js) is a path the server answers with the
    /// app, so a reload or a shared link never meets a 404.
    #[test]
    fn every_page_of_the_app_is_served() {
        let main = include_str!("../../../web/src/main.js");
        let mut routed: Vec<String> = main
            .split("[/^")
            .skip(1)
            .map(|rest| rest.split("$/").next().unwrap().replace("\\/", "/").replace("([^/]+)", "{id}"))
            .collect();
        routed.sort();
        let mut served: Vec<String> = super::PAGES.iter().map(|p| p.to_string()).collect();
        served.sort();
        assert_eq!(routed, served);
    }
}
