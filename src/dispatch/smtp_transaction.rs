//! One SMTP transaction on a pooled connection: MAIL, RCPT, DATA and the message.
//!
//! lettre writes each command and waits for its reply: four round trips per message. With a
//! relay that announces PIPELINING (RFC 2920) MAIL, RCPT and DATA leave in one write and their
//! replies are read in order afterwards, and the message leaves with its final dot in one
//! write: two round trips. lettre has no pipelining, but its `command` writes what it is given
//! and reads one reply, and `read_response` reads the next; that is all a pipelined group needs.
//!
//! A refusal anywhere in the group ends the transaction: the connection is dropped, never
//! returned to the pool, so replies still unread do not matter, and a relay that wrongly
//! answers DATA with 354 after refusing every recipient gets no message (the connection closes
//! before the final dot). A relay that announces PIPELINING but loses the commands after the
//! first costs one timeout: the relay's connections go one command at a time from then on, for
//! as long as the process runs (`SmtpRelay`).

use std::fmt::{self, Display, Formatter};

use lettre::address::Envelope;
use lettre::transport::smtp::client::AsyncSmtpConnection;
use lettre::transport::smtp::commands::{Data, Ehlo, Mail, Rcpt};
use lettre::transport::smtp::extension::{ClientId, Extension, MailBodyParameter, MailParameter};

type Error = lettre::transport::smtp::Error;

/// How far a transaction got when it failed. Up to DATA nothing can have been delivered;
/// after it, the relay may have taken the message.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Stage {
    Mail,
    Rcpt,
    Data,
    AfterData,
}

/// A connection to a relay, and whether the relay pipelines.
pub(super) struct Conn {
    pub smtp: AsyncSmtpConnection,
    pipelining: bool,
}

impl Conn {
    /// Asks EHLO once more to learn whether the relay pipelines (lettre keeps only the
    /// extensions it uses), unless `allowed` is false. Called before AUTH: EHLO resets nothing
    /// a fresh session has.
    pub async fn new(
        mut smtp: AsyncSmtpConnection,
        hello: &ClientId,
        allowed: bool,
    ) -> Result<Self, Error> {
        if !allowed {
            return Ok(Self {
                smtp,
                pipelining: false,
            });
        }
        let reply = smtp.command(Ehlo::new(hello.clone())).await?;
        let pipelining = reply.message().any(|line| {
            let keyword = line.split_whitespace().next().unwrap_or_default();
            keyword.eq_ignore_ascii_case("PIPELINING")
        });
        Ok(Self { smtp, pipelining })
    }

    pub fn pipelining(&self) -> bool {
        self.pipelining
    }
}

/// MAIL, RCPT, DATA and the message, recording in `stage` when the data starts to leave.
/// Mirrors `AsyncSmtpConnection::send`, which does not tell how far it got.
pub(super) async fn transaction(
    conn: &mut Conn,
    envelope: &Envelope,
    bytes: &[u8],
    stage: &mut Stage,
) -> Result<(), Error> {
    let mut options = Vec::new();
    let addresses = envelope.from().into_iter().chain(envelope.to());
    if addresses.map(|a| a.as_ref()).any(|a: &str| !a.is_ascii()) {
        options.push(MailParameter::SmtpUtfEight);
    }
    let smtp = &mut conn.smtp;
    if !bytes.is_ascii() && smtp.server_info().supports_feature(Extension::EightBitMime) {
        options.push(MailParameter::Body(MailBodyParameter::EightBitMime));
    }
    let mail = Mail::new(envelope.from().cloned(), options);
    let rcpts: Vec<Rcpt> = (envelope.to().iter())
        .map(|to| Rcpt::new(to.clone(), Vec::new()))
        .collect();
    *stage = Stage::Mail;
    if conn.pipelining {
        smtp.command(Group(&mail, &rcpts)).await?;
        *stage = Stage::Rcpt;
        for _ in &rcpts {
            smtp.read_response().await?;
        }
        *stage = Stage::Data;
        smtp.read_response().await?;
    } else {
        smtp.command(mail).await?;
        *stage = Stage::Rcpt;
        for rcpt in rcpts {
            smtp.command(rcpt).await?;
        }
        *stage = Stage::Data;
        smtp.command(Data).await?;
    }
    *stage = Stage::AfterData;
    match std::str::from_utf8(bytes) {
        Ok(text) => smtp.command(Content(text)).await?,
        Err(_) => smtp.message(bytes).await?,
    };
    Ok(())
}

/// MAIL, every RCPT and DATA, written as one.
struct Group<'a>(&'a Mail, &'a [Rcpt]);

impl Display for Group<'_> {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)?;
        for rcpt in self.1 {
            rcpt.fmt(f)?;
        }
        Data.fmt(f)
    }
}

/// The message with SMTP's transparency (a line starting with a dot gets a second one) and
/// the final dot, as lettre's `message` writes it, in one write instead of two.
struct Content<'a>(&'a str);

impl Display for Content<'_> {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        let mut lines = self.0.split("\r\n");
        if let Some(first) = lines.next() {
            stuffed(f, first)?;
        }
        for line in lines {
            f.write_str("\r\n")?;
            stuffed(f, line)?;
        }
        f.write_str("\r\n.\r\n")
    }
}

fn stuffed(f: &mut Formatter<'_>, line: &str) -> fmt::Result {
    if line.starts_with('.') {
        f.write_str(".")?;
    }
    f.write_str(line)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn content_doubles_leading_dots_and_ends_with_the_dot_line() {
        let written = Content(".top\r\nmid.dle\r\n.\r\n..two\r\nend").to_string();
        assert_eq!(written, "..top\r\nmid.dle\r\n..\r\n...two\r\nend\r\n.\r\n");
    }

    #[test]
    fn a_group_is_mail_every_rcpt_and_data() {
        let mail = Mail::new(Some("a@example.org".parse().unwrap()), Vec::new());
        let rcpts = [
            Rcpt::new("b@example.org".parse().unwrap(), Vec::new()),
            Rcpt::new("c@example.org".parse().unwrap(), Vec::new()),
        ];
        assert_eq!(
            Group(&mail, &rcpts).to_string(),
            "MAIL FROM:<a@example.org>\r\nRCPT TO:<b@example.org>\r\n\
             RCPT TO:<c@example.org>\r\nDATA\r\n"
        );
    }
}
