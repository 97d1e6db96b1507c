//! A string that must never be printed: passwords, tokens, API keys.

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::fmt;

/// A secret value. `Debug`, `Display` and `Serialize` print `"***"`; only
/// [`Secret::expose`] gives the value, so every use of it is greppable.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    /// The secret itself, for handing to a transport. Never log the result.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("\"***\"")
    }
}

impl Serialize for Secret {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str("***")
    }
}

impl<'de> Deserialize<'de> for Secret {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        String::deserialize(d).map(Secret)
    }
}

/// Query parameters whose value is a credential when their name contains one of these
/// (`token`, `access_token`, `api_key`, `apikey`, `X-Amz-Signature`, `sig`, `password`, …).
const SECRET_PARAMS: &[&str] = &[
    "token", "key", "secret", "pass", "pwd", "sig", "auth", "cred", "session",
];

/// Whether a parameter (or field) of this name carries a credential.
pub fn is_secret_name(name: &str) -> bool {
    let name = name.to_ascii_lowercase();
    SECRET_PARAMS.iter().any(|p| name.contains(p))
}

/// A URL fit for printing: its user info (`user:password@`) becomes `***@` and the values of
/// query parameters named like credentials become `***`. The rest is kept as written (also
/// `{placeholders}` of gateway templates), so the operator still recognises the address.
/// Credentials elsewhere in a path cannot be told apart; put them in a header instead.
pub fn redact_url(url: &str) -> String {
    let (head, fragment) = match url.split_once('#') {
        Some((h, f)) => (h, Some(f)),
        None => (url, None),
    };
    let (head, query) = match head.split_once('?') {
        Some((h, q)) => (h, Some(q)),
        None => (head, None),
    };
    let mut out = match head.split_once("://") {
        Some((scheme, rest)) => {
            let end = rest.find('/').unwrap_or(rest.len());
            let (authority, path) = rest.split_at(end);
            let host = match authority.rsplit_once('@') {
                Some((_, host)) => format!("***@{host}"),
                None => authority.to_owned(),
            };
            format!("{scheme}://{host}{path}")
        }
        None => head.to_owned(),
    };
    if let Some(query) = query {
        let pairs: Vec<String> = query
            .split('&')
            .map(|pair| match pair.split_once('=') {
                Some((name, _)) if is_secret_name(name) => format!("{name}=***"),
                _ => pair.to_owned(),
            })
            .collect();
        out.push('?');
        out.push_str(&pairs.join("&"));
    }
    if let Some(f) = fragment {
        out.push('#');
        out.push_str(f);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_lose_their_credentials_and_keep_the_rest() {
        assert_eq!(
            redact_url("https://kim:geheim@host:8443/export.csv?token=abc&format=csv"),
            "https://***@host:8443/export.csv?token=***&format=csv"
        );
        assert_eq!(
            redact_url("https://TOKEN@host/x?access_token=a&api_key=b&X-Amz-Signature=c&sig=d"),
            "https://***@host/x?access_token=***&api_key=***&X-Amz-Signature=***&sig=***"
        );
        assert_eq!(
            redact_url("http://127.0.0.1:13013/cgi-bin/sendsms?username=u&password=p&to={to}"),
            "http://127.0.0.1:13013/cgi-bin/sendsms?username=u&password=***&to={to}"
        );
        assert_eq!(
            redact_url("postgres://absage:pw@db/absage?sslmode=require&password=x#f"),
            "postgres://***@db/absage?sslmode=require&password=***#f"
        );
        assert_eq!(redact_url("sqlite://data/a.db"), "sqlite://data/a.db");
        assert_eq!(
            redact_url("https://host/a@b/c"),
            "https://host/a@b/c",
            "an @ in the path is no user info"
        );
    }

    #[test]
    fn secrets_are_redacted_when_printed_or_serialized() {
        let s = Secret::new("hunter2");
        assert_eq!(format!("{s:?}"), "\"***\"");
        assert_eq!(serde_json::to_string(&s).unwrap(), "\"***\"");
        assert_eq!(s.expose(), "hunter2");
    }
}
