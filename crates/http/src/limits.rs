//! Rate limits on every route: a request that carries an API token (`Authorization: Bearer`)
//! counts against that token, any other against the client's address; new subscriptions also
//! count against the address, by the hour. Over a limit the answer is 429 with `Retry-After`,
//! before any work is done. GCRA through `governor`, one bucket per key, forgotten when full
//! again. Also here: shedding past the requests in flight, and the header size limit.

use std::{
    net::{IpAddr, SocketAddr},
    num::NonZeroU32,
    sync::Arc,
    time::Duration,
};

use axum::{
    extract::{ConnectInfo, Request, State},
    http::{HeaderValue, header},
    middleware::Next,
    response::{IntoResponse, Response},
};
use governor::{DefaultKeyedRateLimiter, Quota, clock::Clock};
use sha2::{Digest, Sha256};

use crate::ApiError;

/// Requests a second allowed per client address and per API token (`None` for no limit), and
/// requests in flight at once.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    pub per_ip: Option<NonZeroU32>,
    pub per_token: Option<NonZeroU32>,
    /// Requests being answered at once; past it a request is shed at once with 503 and
    /// `Retry-After`, rather than waiting in a queue until the client gives up. Live streams
    /// count only while they start.
    pub in_flight: usize,
    /// Take the client's address from the last `X-Forwarded-For` hop (the one the reverse
    /// proxy in front added) instead of the connection's.
    pub trust_forwarded_for: bool,
    /// Subscriptions each client address may make an hour (`POST /v1/subscriptions`; all at
    /// once if it likes). Subscriptions have no accounts, so this is what bounds how many one
    /// client holds.
    pub subscriptions_per_hour: Option<NonZeroU32>,
}

impl Default for Limits {
    /// 100 a second per address (a page of the web app makes a dozen requests), 50 per token,
    /// each with a burst of twice that.
    fn default() -> Self {
        Self {
            per_ip: NonZeroU32::new(100),
            per_token: NonZeroU32::new(50),
            in_flight: DEFAULT_IN_FLIGHT,
            trust_forwarded_for: false,
            subscriptions_per_hour: NonZeroU32::new(DEFAULT_SUBSCRIPTIONS_PER_HOUR),
        }
    }
}

/// Subscriptions a client address may make an hour by default: a household makes one or two,
/// a library's shared computer a few more.
pub const DEFAULT_SUBSCRIPTIONS_PER_HOUR: u32 = 20;

/// Requests in flight at once by default: on two cores the API answers a read in about a
/// millisecond, so this is a few tenths of a second of work queued.
pub const DEFAULT_IN_FLIGHT: usize = 512;

/// The answer to a request shed because too many are in flight.
pub async fn overloaded(_: tower::BoxError) -> Response {
    metrics::counter!("porchlight_http_shed_total").increment(1);
    let mut response = ApiError::new(
        axum::http::StatusCode::SERVICE_UNAVAILABLE,
        "overloaded",
        "the server is answering as many requests as it can; try again in a second",
    )
    .into_response();
    response.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(1));
    response
}

/// The buckets of every address and token seen lately.
pub struct RateLimiter {
    pub(crate) limits: Limits,
    by_ip: Option<DefaultKeyedRateLimiter<IpAddr>>,
    by_token: Option<DefaultKeyedRateLimiter<[u8; 32]>>,
    new_subscriptions: Option<DefaultKeyedRateLimiter<IpAddr>>,
}

impl std::fmt::Debug for RateLimiter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RateLimiter").field("limits", &self.limits).finish_non_exhaustive()
    }
}

fn quota(per_second: NonZeroU32) -> Quota {
    Quota::per_second(per_second).allow_burst(per_second.saturating_mul(NonZeroU32::new(2).expect("two")))
}

/// How often buckets that are full again are dropped, so memory follows the clients of the
/// last minute, not of all time.
const FORGET_EVERY: Duration = Duration::from_secs(60);

impl RateLimiter {
    pub fn new(limits: Limits) -> Arc<Self> {
        let limiter = Arc::new(Self {
            limits,
            by_ip: limits.per_ip.map(|n| governor::RateLimiter::keyed(quota(n))),
            by_token: limits.per_token.map(|n| governor::RateLimiter::keyed(quota(n))),
            new_subscriptions: limits
                .subscriptions_per_hour
                .map(|n| governor::RateLimiter::keyed(Quota::per_hour(n).allow_burst(n))),
        });
        let weak = Arc::downgrade(&limiter);
        if tokio::runtime::Handle::try_current().is_ok() {
            tokio::spawn(async move {
                loop {
                    tokio::time::sleep(FORGET_EVERY).await;
                    let Some(limiter) = weak.upgrade() else { return };
                    if let Some(l) = &limiter.by_ip {
                        l.retain_recent();
                    }
                    if let Some(l) = &limiter.by_token {
                        l.retain_recent();
                    }
                    if let Some(l) = &limiter.new_subscriptions {
                        l.retain_recent();
                    }
                }
            });
        }
        limiter
    }

    /// Who a request counts against: its token, or its client's address.
    fn client_ip(&self, req: &Request) -> Option<IpAddr> {
        if self.limits.trust_forwarded_for
            && let Some(last) = req
                .headers()
                .get_all("x-forwarded-for")
                .iter()
                .filter_map(|v| v.to_str().ok())
                .flat_map(|v| v.split(','))
                .next_back()
            && let Ok(ip) = last.trim().parse()
        {
            return Some(ip);
        }
        req.extensions().get::<ConnectInfo<SocketAddr>>().map(|c| c.0.ip())
    }

    /// How long the request must wait, if it is over its limit: the wait, the error's code and
    /// whom the limit counts (`token` or `address`).
    fn over(&self, req: &Request) -> Option<(Duration, &'static str, &'static str)> {
        if req.method() == axum::http::Method::POST
            && req.uri().path() == "/v1/subscriptions"
            && let Some(limiter) = &self.new_subscriptions
            && let Some(ip) = self.client_ip(req)
            && let Err(e) = limiter.check_key(&ip)
        {
            return Some((wait(e), "too_many_subscriptions", "address"));
        }
        self.over_rate(req).map(|(wait, by)| (wait, "rate_limited", by))
    }

    /// Over the rate of requests of its token or its address.
    fn over_rate(&self, req: &Request) -> Option<(Duration, &'static str)> {
        let token = req
            .headers()
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .filter(|t| !t.is_empty());
        match token {
            // Keyed by a hash: the limiter holds no token.
            Some(token) => {
                let key: [u8; 32] = Sha256::digest(token.as_bytes()).into();
                self.by_token.as_ref()?.check_key(&key).err().map(|e| (wait(e), "token"))
            }
            None => {
                let ip = self.client_ip(req)?;
                self.by_ip.as_ref()?.check_key(&ip).err().map(|e| (wait(e), "address"))
            }
        }
    }
}

/// How long until a refused request would be let through.
fn wait(e: governor::NotUntil<governor::clock::QuantaInstant>) -> Duration {
    e.wait_time_from(governor::clock::DefaultClock::default().now())
}

/// The middleware: 429 with `Retry-After` (whole seconds, at least one) over the limit.
pub async fn limit(State(limiter): State<Arc<RateLimiter>>, req: Request, next: Next) -> Response {
    let Some((wait, code, by)) = limiter.over(&req) else { return next.run(req).await };
    metrics::counter!("porchlight_http_rate_limited_total", "by" => by, "code" => code).increment(1);
    let seconds = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
    let what = if code == "too_many_subscriptions" { "new subscriptions" } else { "requests" };
    let mut response = ApiError::new(
        axum::http::StatusCode::TOO_MANY_REQUESTS,
        code,
        format!("too many {what} from this {by}; try again in {} s", seconds.max(1)),
    )
    .into_response();
    response.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(seconds.max(1)));
    response
}

/// The most a request's header fields may hold together, names and values: far above any
/// browser's or client's (a session cookie and a token are well under 1 KB), far below what
/// would let a client make the server hold much.
pub const MAX_HEADER_BYTES: usize = 16 * 1024;

/// Refuse a request whose header fields hold more than [`MAX_HEADER_BYTES`]: 431, before any
/// other work. (The HTTP server itself refuses more than 100 fields.)
pub async fn headers_within(req: Request, next: Next) -> Response {
    let size: usize = req.headers().iter().map(|(name, value)| name.as_str().len() + value.len()).sum();
    if size > MAX_HEADER_BYTES {
        return ApiError::new(
            axum::http::StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
            "headers_too_large",
            format!("the request's header fields hold {size} bytes; at most {MAX_HEADER_BYTES} are read"),
        )
        .into_response();
    }
    next.run(req).await
}
