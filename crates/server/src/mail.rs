//! Outgoing e-mail over SMTP (lettre, TLS through rustls): team invitations now, digests
//! and alerts later. Configured with `--smtp-url` (`smtp://user:pass@host:587?tls=required`,
//! `smtps://…:465`, or `smtp://host:25` without TLS) and `--mail-from`; without them no
//! e-mail is sent and the pages show the links to pass on by hand.

use std::time::Duration;

use lettre::message::header::{ContentType, Header, HeaderName, HeaderValue};
use lettre::message::{Mailbox, MultiPart};
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};

/// Longest an SMTP exchange may take before the page says sending failed.
pub const SEND_TIMEOUT: Duration = Duration::from_secs(10);

/// Why an e-mail could not be sent (or the configuration used).
#[derive(Debug)]
pub enum MailError {
    /// `--smtp-url` is not a URL lettre understands.
    Url(String),
    /// `--mail-from` or a recipient is not an address.
    Address(String),
    /// The message could not be assembled.
    Build(String),
    /// The SMTP server refused it or could not be reached in time.
    Send(String),
}

impl std::fmt::Display for MailError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            MailError::Url(e) => write!(f, "SMTP URL: {e}"),
            MailError::Address(e) => write!(f, "e-mail address: {e}"),
            MailError::Build(e) => write!(f, "e-mail message: {e}"),
            MailError::Send(e) => write!(f, "sending e-mail: {e}"),
        }
    }
}

impl std::error::Error for MailError {}

/// An SMTP connection pool and the sender's address.
#[derive(Clone)]
pub struct Mailer {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    from: Mailbox,
}

impl std::fmt::Debug for Mailer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The URL may carry a password: only the sender is shown.
        f.debug_struct("Mailer").field("from", &self.from).finish()
    }
}

/// `List-Unsubscribe: <URL>` (RFC 2369): the mail client's own "unsubscribe" button.
#[derive(Debug, Clone)]
struct ListUnsubscribe(String);

impl Header for ListUnsubscribe {
    fn name() -> HeaderName {
        HeaderName::new_from_ascii_str("List-Unsubscribe")
    }

    fn parse(s: &str) -> Result<Self, Box<dyn std::error::Error + Send + Sync>> {
        Ok(ListUnsubscribe(
            s.trim()
                .trim_start_matches('<')
                .trim_end_matches('>')
                .into(),
        ))
    }

    fn display(&self) -> HeaderValue {
        HeaderValue::new(Self::name(), format!("<{}>", self.0))
    }
}

/// `List-Unsubscribe-Post: List-Unsubscribe=One-Click` (RFC 8058): the client may
/// unsubscribe with one POST to that URL, no page to visit.
#[derive(Debug, Clone)]
struct OneClick;

impl Header for OneClick {
    fn name() -> HeaderName {
        HeaderName::new_from_ascii_str("List-Unsubscribe-Post")
    }

    fn parse(_: &str) -> Result<Self, Box<dyn std::error::Error + Send + Sync>> {
        Ok(OneClick)
    }

    fn display(&self) -> HeaderValue {
        HeaderValue::new(Self::name(), "List-Unsubscribe=One-Click".into())
    }
}

impl Mailer {
    /// A mailer for `url`, sending as `from` (`Lucarne <stats@example.com>` or a bare
    /// address). Nothing is connected before the first message.
    pub fn new(url: &str, from: &str) -> Result<Mailer, MailError> {
        let from: Mailbox = from
            .trim()
            .parse()
            .map_err(|e| MailError::Address(format!("--mail-from `{from}`: {e}")))?;
        let transport = AsyncSmtpTransport::<Tokio1Executor>::from_url(url.trim())
            .map_err(|e| MailError::Url(e.to_string()))?
            .timeout(Some(SEND_TIMEOUT))
            .build();
        Ok(Mailer { transport, from })
    }

    /// The sender's address.
    pub fn from(&self) -> &Mailbox {
        &self.from
    }

    /// Send a plain-text message to one address.
    pub async fn send(&self, to: &str, subject: &str, body: String) -> Result<(), MailError> {
        let to: Mailbox = to
            .parse()
            .map_err(|e| MailError::Address(format!("`{to}`: {e}")))?;
        let message = Message::builder()
            .from(self.from.clone())
            .to(to)
            .subject(subject)
            .header(ContentType::TEXT_PLAIN)
            .body(body)
            .map_err(|e| MailError::Build(e.to_string()))?;
        self.deliver(message).await
    }

    /// Send a message with a plain-text and an HTML part (no image, nothing remote) and,
    /// with `unsubscribe`, the headers that let mail clients offer a one-click
    /// unsubscribe.
    pub async fn send_alternative(
        &self,
        to: &str,
        subject: &str,
        text: String,
        html: String,
        unsubscribe: Option<&str>,
    ) -> Result<(), MailError> {
        let to: Mailbox = to
            .parse()
            .map_err(|e| MailError::Address(format!("`{to}`: {e}")))?;
        let mut b = Message::builder()
            .from(self.from.clone())
            .to(to)
            .subject(subject);
        if let Some(u) = unsubscribe {
            b = b.header(ListUnsubscribe(u.to_string())).header(OneClick);
        }
        let message = b
            .multipart(MultiPart::alternative_plain_html(text, html))
            .map_err(|e| MailError::Build(e.to_string()))?;
        self.deliver(message).await
    }

    async fn deliver(&self, message: Message) -> Result<(), MailError> {
        match tokio::time::timeout(SEND_TIMEOUT, self.transport.send(message)).await {
            Ok(Ok(_)) => Ok(()),
            Ok(Err(e)) => Err(MailError::Send(e.to_string())),
            Err(_) => Err(MailError::Send(format!(
                "no answer within {} s",
                SEND_TIMEOUT.as_secs()
            ))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn configuration_is_checked_before_anything_is_sent() {
        assert!(Mailer::new("smtp://127.0.0.1:2525", "Lucarne <stats@example.com>").is_ok());
        assert!(matches!(
            Mailer::new("smtp://127.0.0.1:2525", "not an address"),
            Err(MailError::Address(_))
        ));
        assert!(matches!(
            Mailer::new("gopher://x", "stats@example.com"),
            Err(MailError::Url(_))
        ));
        let m = Mailer::new("smtp://u:secret@127.0.0.1:2525", "stats@example.com")
            .unwrap_or_else(|e| panic!("{e}"));
        assert!(!format!("{m:?}").contains("secret"));
    }
}
