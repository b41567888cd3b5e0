//! E-mail notices: when a request is approved, each owner of an active camera in its area is
//! told by e-mail, once (the notice is queued in the approval's transaction; a failed send is
//! retried with a doubling wait, up to 8 times). The inbox is where they answer.

use std::time::Duration;

use chrono::Utc;
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor, message::Mailbox};

use crate::{Portal, PortalError, db};

/// Sends the portal's e-mail.
pub struct Notifier {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    from: Mailbox,
    public_url: String,
}

impl std::fmt::Debug for Notifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Notifier").finish_non_exhaustive()
    }
}

/// Attempts before a notice is given up.
const MAX_ATTEMPTS: u32 = 8;

impl Notifier {
    /// `smtp_url` as lettre reads it (`smtp://host:port`, `smtps://user:pass@host`), `from`
    /// the sender, `public_url` where residents reach the portal.
    pub fn new(smtp_url: &str, from: &str, public_url: &str) -> Result<Self, PortalError> {
        let transport = AsyncSmtpTransport::<Tokio1Executor>::from_url(smtp_url)
            .map_err(|e| PortalError::Mail(format!("the SMTP URL: {e}")))?
            .timeout(Some(Duration::from_secs(10)))
            .build();
        let from = from.parse().map_err(|e| PortalError::Mail(format!("the sender {from:?}: {e}")))?;
        Ok(Self { transport, from, public_url: public_url.trim_end_matches('/').to_owned() })
    }

    async fn send(&self, notice: &db::Notice) -> Result<(), String> {
        let to: Mailbox = notice.email.parse().map_err(|e| format!("the address: {e}"))?;
        let r = &notice.request;
        let kind = r.incident_type.replace('_', " ");
        let text = format!(
            "{agency} asks for camera footage of a {kind} between {start} and {end} (UTC), near one of your cameras.\n\n\
             {description}\n\n\
             Whether you share anything is your choice. The police see only what you upload, under the name you \
             choose; they never learn who declined or did not answer, nor where your cameras are.\n\n\
             Answer in your inbox: {url}/v1/portal/inbox\n",
            agency = r.agency_id,
            start = r.window_start.format("%Y-%m-%d %H:%M"),
            end = r.window_end.format("%H:%M"),
            description = r.description,
            url = self.public_url,
        );
        let message = Message::builder()
            .from(self.from.clone())
            .to(to)
            .subject(format!("A request for camera footage near you: {kind}"))
            .body(text)
            .map_err(|e| format!("the message: {e}"))?;
        self.transport.send(message).await.map(|_| ()).map_err(|e| format!("the mail server: {e}"))
    }
}

impl Portal {
    /// Send the notices that are due; how many were sent.
    pub async fn send_notices(&self, notifier: &Notifier) -> Result<usize, PortalError> {
        let now = Utc::now();
        let due = db::take_notices(&self.pool, now, now + chrono::Duration::minutes(2)).await?;
        let mut sent = 0;
        for notice in due {
            let outcome = match notifier.send(&notice).await {
                Ok(()) => {
                    sent += 1;
                    Ok(())
                }
                Err(e) if notice.attempts + 1 >= MAX_ATTEMPTS => Err((e, None)),
                Err(e) => {
                    Err((e, Some(Utc::now() + chrono::Duration::minutes(1 << notice.attempts.min(10)))))
                }
            };
            if outcome.is_err() {
                // Not the error text: a mail server's refusal can quote the owner's address.
                tracing::warn!(attempts = notice.attempts + 1, "a request notice was not sent");
            }
            db::record_notice(&self.pool, db::Notices::Email, notice.request.id, notice.owner, outcome)
                .await?;
        }
        Ok(sent)
    }

    /// Send notices every few seconds until the task is dropped.
    pub async fn run_notices(self, notifier: Notifier) {
        loop {
            if let Err(e) = self.send_notices(&notifier).await {
                tracing::error!(error = %e, "sending request notices failed; retrying");
            }
            tokio::time::sleep(Duration::from_secs(2)).await;
        }
    }
}
