//! The `serve` flags for delivery to channels: where residents reach this server, the SMTP
//! server, and how failed deliveries are retried and when a failing channel is paused.

use std::time::Duration;

use clap::Args;
use porchlight_delivery::{Config, Retry, Smtp};
use porchlight_store::PauseRule;

#[derive(Args, Clone, Debug)]
pub struct DeliveryArgs {
    /// The URL residents reach this server at, for links in e-mails; default: the listening
    /// address.
    #[arg(long, env = "PORCHLIGHT_PUBLIC_URL")]
    public_url: Option<String>,
    /// Who runs this server, for push services (VAPID's subject): a mailto: or https: URL.
    #[arg(long, env = "PORCHLIGHT_CONTACT", default_value = "mailto:admin@localhost")]
    contact: String,
    /// The SMTP server for e-mail alerts, as smtp://host:port (STARTTLS when offered),
    /// smtp://host:port?tls=required or smtps://user:password@host:465. Without one, e-mail
    /// deliveries fail and are retried.
    #[arg(long, env = "PORCHLIGHT_SMTP_URL")]
    smtp_url: Option<String>,
    /// The From of alert e-mails.
    #[arg(long, env = "PORCHLIGHT_MAIL_FROM", default_value = "Porchlight <alerts@localhost>")]
    mail_from: String,
    /// Seconds before the first retry of a failed delivery; the wait doubles after each failure.
    #[arg(long, env = "PORCHLIGHT_RETRY_FIRST_SECS", default_value_t = 30.0)]
    retry_first_secs: f64,
    /// The longest wait between retries, in seconds.
    #[arg(long, env = "PORCHLIGHT_RETRY_MAX_SECS", default_value_t = 3600.0)]
    retry_max_secs: f64,
    /// Seconds of retries before a delivery becomes a dead letter.
    #[arg(long, env = "PORCHLIGHT_GIVE_UP_AFTER_SECS", default_value_t = 86_400.0)]
    give_up_after_secs: f64,
    /// A channel is paused after this many failed attempts in a row...
    #[arg(long, env = "PORCHLIGHT_PAUSE_AFTER_FAILURES", default_value_t = 20)]
    pause_after_failures: u32,
    /// ...spread over at least this many seconds.
    #[arg(long, env = "PORCHLIGHT_PAUSE_AFTER_SECS", default_value_t = 21_600.0)]
    pause_after_secs: f64,
    /// Seconds one delivery attempt may take.
    #[arg(long, env = "PORCHLIGHT_DELIVERY_TIMEOUT_SECS", default_value_t = 10.0)]
    delivery_timeout_secs: f64,
    /// Delivery attempts under way at once.
    #[arg(long, env = "PORCHLIGHT_DELIVERY_CONCURRENCY", default_value_t = 256)]
    delivery_concurrency: usize,
    /// Seconds an alert worker's claim on stored incidents lasts: when several processes share
    /// a PostgreSQL store, the incidents a killed process had claimed are taken up by another
    /// (or by it, restarted) after this long.
    #[arg(long, env = "PORCHLIGHT_OUTBOX_LEASE_SECS", default_value_t = 60.0)]
    outbox_lease_secs: f64,
}

fn secs(name: &str, value: f64) -> anyhow::Result<Duration> {
    Duration::try_from_secs_f64(value)
        .map_err(|_| anyhow::anyhow!("--{name} must be a number of seconds, 0 or more"))
}

impl DeliveryArgs {
    /// How long the alert worker's claims last.
    pub fn outbox_lease(&self) -> anyhow::Result<Duration> {
        secs("outbox-lease-secs", self.outbox_lease_secs)
    }

    /// The sender's settings; `listening` is the server's own URL.
    pub fn config(&self, listening: &str) -> anyhow::Result<Config> {
        Ok(Config {
            public_url: self.public_url.clone().unwrap_or_else(|| listening.to_owned()),
            contact: self.contact.clone(),
            retry: Retry {
                first: secs("retry-first-secs", self.retry_first_secs)?,
                max: secs("retry-max-secs", self.retry_max_secs)?,
                give_up_after: secs("give-up-after-secs", self.give_up_after_secs)?,
            },
            pause: PauseRule {
                failures: self.pause_after_failures,
                after: chrono::Duration::from_std(secs("pause-after-secs", self.pause_after_secs)?)?,
            },
            timeout: secs("delivery-timeout-secs", self.delivery_timeout_secs)?,
            concurrency: self.delivery_concurrency.max(1),
            smtp: self.smtp_url.clone().map(|url| Smtp { url, from: self.mail_from.clone() }),
        })
    }
}

impl DeliveryArgs {
    /// The portal's mailer for notices of requests, when an SMTP server is configured.
    pub fn portal_notifier(&self, listening: &str) -> anyhow::Result<Option<porchlight_portal::Notifier>> {
        let Some(url) = &self.smtp_url else { return Ok(None) };
        let public_url = self.public_url.as_deref().unwrap_or(listening);
        Ok(Some(porchlight_portal::Notifier::new(url, &self.mail_from, public_url)?))
    }
}

impl DeliveryArgs {
    /// The portal's Web Push sender, naming this server's operator to push services.
    pub fn portal_push_sender(&self) -> anyhow::Result<porchlight_portal::PushSender> {
        Ok(porchlight_portal::PushSender::new(&self.contact)?)
    }
}

impl Default for DeliveryArgs {
    fn default() -> Self {
        let defaults = Config::default();
        Self {
            public_url: None,
            contact: defaults.contact,
            smtp_url: None,
            mail_from: "Porchlight <alerts@localhost>".into(),
            retry_first_secs: defaults.retry.first.as_secs_f64(),
            retry_max_secs: defaults.retry.max.as_secs_f64(),
            give_up_after_secs: defaults.retry.give_up_after.as_secs_f64(),
            pause_after_failures: defaults.pause.failures,
            pause_after_secs: defaults.pause.after.num_seconds() as f64,
            delivery_timeout_secs: defaults.timeout.as_secs_f64(),
            delivery_concurrency: defaults.concurrency,
            outbox_lease_secs: porchlight_alerts::DEFAULT_LEASE.as_secs_f64(),
        }
    }
}
