//! E-mail: each live alert, and each closed digest period's held alerts, as a message with a
//! plain-text and an HTML part, a `Message-ID` made from the delivery (the same on every
//! retry), and a one-click unsubscribe link
//! (`List-Unsubscribe` with `List-Unsubscribe-Post`, RFC 8058) that ends the e-mails and
//! nothing else.

use std::time::Duration;

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use lettre::{
    AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor,
    message::{
        Mailbox, MultiPart,
        header::{HeaderName, HeaderValue},
    },
};
use porchlight_core::alert::Alert;
use porchlight_store::{Due, Payload};

use crate::{Error, Failure, Sent};

/// Where e-mail goes out.
#[derive(Debug, Clone)]
pub struct Smtp {
    /// `smtp://host:port` (STARTTLS when offered), `smtp://host:port?tls=required`, or
    /// `smtps://user:password@host:465`, as lettre reads them.
    pub url: String,
    /// The `From` of every alert, such as `Porchlight <alerts@city.example>`.
    pub from: String,
}

pub(crate) struct Mailer {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    from: Mailbox,
    public_url: String,
    /// The host of the public URL: the right-hand side of each `Message-ID`.
    host: String,
}

/// The unsubscribe link of a channel's secret.
pub fn unsubscribe_url(public_url: &str, secret: &[u8]) -> String {
    format!("{}/v1/unsubscribe/{}", public_url.trim_end_matches('/'), URL_SAFE_NO_PAD.encode(secret))
}

impl Mailer {
    pub(crate) fn new(smtp: &Smtp, public_url: &str, timeout: Duration) -> Result<Self, Error> {
        let transport = AsyncSmtpTransport::<Tokio1Executor>::from_url(&smtp.url)
            .map_err(|e| Error::Smtp(format!("the URL {:?}: {e}", smtp.url)))?
            .timeout(Some(timeout))
            .build();
        let from = smtp.from.parse().map_err(|e| Error::Smtp(format!("the sender {:?}: {e}", smtp.from)))?;
        let host = url::Url::parse(public_url)
            .ok()
            .and_then(|u| u.host_str().map(str::to_owned))
            .unwrap_or_else(|| "porchlight.invalid".into());
        Ok(Self { transport, from, public_url: public_url.trim_end_matches('/').to_owned(), host })
    }

    pub(crate) async fn send(&self, address: &str, d: &Due) -> Sent {
        let to: Mailbox = address.parse().map_err(|e| Failure {
            permanent: true,
            ..Failure::new(None, format!("the address cannot be written to: {e}"))
        })?;
        let unsubscribe = unsubscribe_url(&self.public_url, &d.secret);
        let footer = "You get this because you asked for alerts in this area.";
        let (subject, text, html) = match &d.payload {
            Payload::Alert(alert) => {
                let (text, html) = self.alert_parts(alert);
                (format!("Porchlight: {}", alert.headline()), text, html)
            }
            Payload::Digest { from, to, alerts } => {
                let period =
                    format!("{} to {}", from.format("%Y-%m-%d %H:%M"), to.format("%Y-%m-%d %H:%M UTC"));
                let count = match alerts.len() {
                    1 => "1 alert".to_owned(),
                    n => format!("{n} alerts"),
                };
                let mut text = format!("{count} held for your digest, {period}:\n");
                let mut html =
                    format!("<p>{} held for your digest, {}:</p><ul>", escape(&count), escape(&period));
                for alert in alerts {
                    let (one_text, one_html) = self.alert_parts(alert);
                    text.push_str(&format!("\n- {}", one_text.replace('\n', "\n  ")));
                    html.push_str(&format!("<li>{one_html}</li>"));
                }
                html.push_str("</ul>");
                (format!("Porchlight digest: {count}, {period}"), text, html)
            }
        };
        let text = format!("{text}\n\n{footer} Stop these e-mails: {unsubscribe}\n");
        let html = format!(
            "<!doctype html><html><body>{html}<p style=\"color:#555;font-size:0.9em\">{footer} \
             <a href=\"{}\">Stop these e-mails</a>.</p></body></html>",
            escape(&unsubscribe),
        );
        let header =
            |name: &'static str, value: String| HeaderValue::new(HeaderName::new_from_ascii_str(name), value);
        let message = Message::builder()
            .from(self.from.clone())
            .to(to)
            .subject(subject)
            .message_id(Some(format!("<delivery-{}@{}>", d.id, self.host)))
            .raw_header(header("List-Unsubscribe", format!("<{unsubscribe}>")))
            .raw_header(header("List-Unsubscribe-Post", "List-Unsubscribe=One-Click".into()))
            .multipart(MultiPart::alternative_plain_html(text, html))
            .map_err(|e| Failure { permanent: true, ..Failure::new(None, format!("the message: {e}")) })?;
        match self.transport.send(message).await {
            Ok(response) => Ok(Some(u16::from(response.code()))),
            Err(e) => {
                let status = e.status().map(u16::from);
                Err(Failure {
                    permanent: e.is_permanent(),
                    ..Failure::new(status, format!("the mail server: {e}"))
                })
            }
        }
    }
}

impl Mailer {
    /// One alert as plain text and as HTML: what, how usual, when, and a link to the call.
    fn alert_parts(&self, alert: &Alert) -> (String, String) {
        // The call's page in the web app: its story, not the API's JSON.
        let incident_url = format!("{}/incidents/{}", self.public_url, alert.incident.id);
        let headline = alert.headline();
        let context = alert.context();
        let when = alert.incident.received_at.format("%Y-%m-%d %H:%M UTC");
        let status = alert.incident.status.as_deref().unwrap_or("not given");
        let text =
            format!("{headline}\n{context}\nReceived by dispatch {when}. Status: {status}.\n{incident_url}");
        let html = format!(
            "<h2 style=\"font-size:1.1em\">{}</h2><p>{}</p><p>Received by dispatch {when}. Status: {}. \
             <a href=\"{}\">The call</a></p>",
            escape(&headline),
            escape(&context),
            escape(status),
            escape(&incident_url),
        );
        (text, html)
    }
}

/// Text made safe to put between HTML tags or in a quoted attribute.
fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}
