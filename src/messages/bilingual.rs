//! Bilingual email: the citizen's language first, then the German text below a clear divider,
//! so that family, helpers or office staff can read the same message.
//!
//! Both parts are rendered from their own templates; only the body of the German HTML is
//! taken into the citizen's document, wrapped as left-to-right German even inside an Arabic or
//! Persian mail. The subject stays in the citizen's language (a header has no room for two).

use super::Rendered;

/// What divides the two texts; German and English, since it is read by both sides.
const TEXT_DIVIDER: &str = "\n========================================\nDeutsch / German\n========================================\n\n";

const HTML_OPEN: &str = r#"<div lang="de" dir="ltr" style="direction:ltr; text-align:left; margin:32px 0 0; border-top:2px solid #9ca3af;">
<p style="max-width:600px; margin:0 auto; padding:8px 24px 0; font-family:Arial, Helvetica, sans-serif; font-size:14px; color:#4b5563;">Deutsch / German</p>
"#;
const HTML_CLOSE: &str = "</div>\n";

/// `own` (citizen's language) followed by `german`, both email renderings of one message.
pub(super) fn join(own: Rendered, german: &Rendered) -> Rendered {
    let text = format!("{}{TEXT_DIVIDER}{}", own.text, german.text);
    let html = match (own.html, &german.html) {
        (Some(own_html), Some(german_html)) => Some(splice(&own_html, german_html)),
        (own_html, _) => own_html,
    };
    Rendered { text, html, ..own }
}

/// Puts the body of `german` at the end of the body of `own`.
fn splice(own: &str, german: &str) -> String {
    let inner = body(german);
    // ASCII lower-casing keeps byte offsets, so positions found here fit `own`.
    let at = own
        .to_ascii_lowercase()
        .rfind("</body>")
        .unwrap_or(own.len());
    let mut out = String::with_capacity(own.len() + inner.len() + HTML_OPEN.len() + 16);
    out.push_str(&own[..at]);
    out.push_str(HTML_OPEN);
    out.push_str(inner.trim());
    out.push('\n');
    out.push_str(HTML_CLOSE);
    out.push_str(&own[at..]);
    out
}

/// What lies between `<body …>` and `</body>`; the whole text if a template has no body tag.
fn body(html: &str) -> &str {
    let lower = html.to_ascii_lowercase();
    let start = lower
        .find("<body")
        .and_then(|open| lower[open..].find('>').map(|end| open + end + 1))
        .unwrap_or(0);
    let end = lower
        .rfind("</body>")
        .filter(|&e| e >= start)
        .unwrap_or(html.len());
    &html[start..end]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn email(text: &str, html: &str) -> Rendered {
        Rendered {
            language: "xx".into(),
            subject: Some("subject".into()),
            text: text.into(),
            html: Some(html.into()),
        }
    }

    #[test]
    fn the_german_text_follows_the_citizens_text_below_a_divider() {
        let joined = join(
            email("Merhaba\n", "<html><body>A</body></html>"),
            &email("Hallo\n", "<html><BODY style=\"x\">B</BODY></html>"),
        );
        assert_eq!(joined.language, "xx");
        assert_eq!(joined.subject.as_deref(), Some("subject"));
        assert!(
            joined.text.starts_with("Merhaba\n\n===="),
            "{}",
            joined.text
        );
        assert!(
            joined
                .text
                .ends_with("Deutsch / German\n========================================\n\nHallo\n")
        );
        let html = joined.html.unwrap();
        assert!(
            html.starts_with("<html><body>A<div lang=\"de\" dir=\"ltr\""),
            "{html}"
        );
        assert!(html.ends_with("B\n</div>\n</body></html>"), "{html}");
        assert_eq!(html.matches("<body").count(), 1, "{html}");
    }

    #[test]
    fn templates_without_a_body_tag_are_joined_whole() {
        assert_eq!(body("<p>x</p>"), "<p>x</p>");
        assert_eq!(body("<body class=\"a\">x</body>"), "x");
        let html = splice("<p>a</p>", "<p>b</p>");
        assert!(html.starts_with("<p>a</p><div lang=\"de\""), "{html}");
        assert!(html.ends_with("<p>b</p>\n</div>\n"), "{html}");
    }
}
