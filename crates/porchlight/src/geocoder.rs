//! An external geocoder that speaks Nominatim's search API (a city's own Nominatim, say), asked
//! to place calls that neither their feed nor the agency's gazetteer placed. It is asked only
//! what is published: the hundred block or the intersection, with the agency's place
//! ("5200 N 35th St, Milwaukee, WI"), never an address. Answers, found or not, are kept in the
//! store, so a question is asked once; questions are spaced by a minimum interval (Nominatim's
//! public servers allow one a second).

use std::time::Duration;

use anyhow::Context;
use porchlight_core::geo::Point;
use porchlight_store::Store;
use serde::Deserialize;
use tokio::{sync::Mutex, time::Instant};

/// How long one question may take.
const TIMEOUT: Duration = Duration::from_secs(10);

/// The command-line options that configure a geocoder (`import` and `serve`).
#[derive(clap::Args, Clone)]
pub struct GeocoderArgs {
    /// A geocoder speaking Nominatim's search API, asked to place the calls that neither their
    /// feed nor the agency's gazetteer placed (only their published block or intersection).
    #[arg(long, env = "PORCHLIGHT_GEOCODER")]
    geocoder: Option<String>,
    /// The least time between two questions to the geocoder, in milliseconds (Nominatim's
    /// public servers allow one a second).
    #[arg(long, env = "PORCHLIGHT_GEOCODER_INTERVAL_MS", default_value_t = 1000)]
    geocoder_interval_ms: u64,
}

impl GeocoderArgs {
    /// The geocoder, if one was given.
    pub fn build(&self) -> anyhow::Result<Option<std::sync::Arc<Geocoder>>> {
        self.geocoder
            .as_deref()
            .map(|url| {
                Geocoder::new(url, Duration::from_millis(self.geocoder_interval_ms)).map(std::sync::Arc::new)
            })
            .transpose()
    }
}

pub struct Geocoder {
    http: reqwest::Client,
    search: reqwest::Url,
    interval: Duration,
    last: Mutex<Option<Instant>>,
}

/// One place of a Nominatim answer: coordinates as strings.
#[derive(Deserialize)]
struct Place {
    lat: String,
    lon: String,
}

impl Geocoder {
    /// A geocoder at `base` (its `/search` is asked), at most one question per `interval`.
    pub fn new(base: &str, interval: Duration) -> anyhow::Result<Self> {
        let base = reqwest::Url::parse(base).with_context(|| format!("the geocoder URL {base:?}"))?;
        let search = base.join("search").context("the geocoder's search URL")?;
        let http = reqwest::Client::builder()
            .user_agent(concat!("Porchlight/", env!("CARGO_PKG_VERSION")))
            .timeout(TIMEOUT)
            .build()?;
        Ok(Self { http, search, interval, last: Mutex::new(None) })
    }

    /// Where `query` (a published block or intersection) is in `context`, from the store's
    /// earlier answers or by asking. A failure to ask is logged and answered `None`, not kept.
    pub async fn locate(&self, store: &Store, query: &str, context: &str) -> anyhow::Result<Option<Point>> {
        let question = format!("{query}, {context}");
        if let Some(answer) = store.geocoded(&question).await? {
            return Ok(answer);
        }
        match self.ask(&question).await {
            Ok(answer) => {
                store.save_geocoded(&question, answer).await?;
                Ok(answer)
            }
            Err(e) => {
                // The question holds only published text; the error may hold the URL.
                tracing::warn!(error = %format!("{e:#}"), "the geocoder did not answer");
                Ok(None)
            }
        }
    }

    async fn ask(&self, question: &str) -> anyhow::Result<Option<Point>> {
        {
            let mut last = self.last.lock().await;
            if let Some(at) = *last {
                tokio::time::sleep_until(at + self.interval).await;
            }
            *last = Some(Instant::now());
        }
        let mut url = self.search.clone();
        url.query_pairs_mut()
            .append_pair("q", question)
            .append_pair("format", "jsonv2")
            .append_pair("limit", "1");
        let answer: Vec<Place> = self.http.get(url).send().await?.error_for_status()?.json().await?;
        let Some(place) = answer.first() else { return Ok(None) };
        let (lat, lon) = (place.lat.parse::<f64>()?, place.lon.parse::<f64>()?);
        Ok(Some(Point::new(lat, lon)?))
    }
}
