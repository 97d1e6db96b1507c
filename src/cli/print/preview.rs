//! `absage templates preview`: the rendered message with its language, subject and SMS facts.

use super::{about, json};
use crate::preview::Preview;
use std::io::Write;

/// The message's text, or with `html` the HTML part of an email.
pub fn preview(out: &mut impl Write, p: &Preview, html: bool, as_json: bool) -> anyhow::Result<()> {
    if as_json {
        return json(out, p);
    }
    writeln!(out, "language: {}", p.language)?;
    if let Some(subject) = &p.subject {
        writeln!(out, "Subject: {subject}")?;
    }
    if let Some(sms) = &p.sms {
        let variant = match p.sms_variant {
            Some("short") => " (the short text: the full one is over max_sms_segments)",
            Some("too_long") => " (over max_sms_segments even when short: not sent)",
            _ => "",
        };
        writeln!(
            out,
            "SMS: {}, {} units, {} segment(s){}{variant}",
            sms.encoding,
            sms.units,
            sms.segments,
            about(sms.cost)
        )?;
    }
    writeln!(out)?;
    match (html, &p.html) {
        (true, Some(h)) => writeln!(out, "{h}")?,
        _ => writeln!(out, "{}", p.text)?,
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cli::print::fixtures::written;
    use crate::preview::SmsFacts;

    #[test]
    fn an_sms_preview_shows_its_encoding_segments_cost_and_variant() {
        let p = Preview {
            language: "tr".into(),
            subject: None,
            text: "Kreis Soest: İptal".into(),
            html: None,
            sms: Some(SmsFacts {
                encoding: "UCS-2",
                units: 195,
                segments: 3,
                cost: Some(0.225),
            }),
            sms_variant: Some("short"),
        };
        let text = written(|out| preview(out, &p, true, false));
        assert_eq!(
            text,
            "language: tr\n\
             SMS: UCS-2, 195 units, 3 segment(s), about 0.23 (the short text: the full one is over max_sms_segments)\n\
             \n\
             Kreis Soest: İptal\n"
        );
    }

    #[test]
    fn an_email_preview_shows_its_subject_and_with_html_the_html_part() {
        let p = Preview {
            language: "de".into(),
            subject: Some("Ihr Termin fällt aus".into()),
            text: "Guten Tag".into(),
            html: Some("<p>Guten Tag</p>".into()),
            sms: None,
            sms_variant: None,
        };
        let text = written(|out| preview(out, &p, false, false));
        assert_eq!(
            text,
            "language: de\nSubject: Ihr Termin fällt aus\n\nGuten Tag\n"
        );
        let html = written(|out| preview(out, &p, true, false));
        assert!(html.ends_with("\n\n<p>Guten Tag</p>\n"), "{html}");
        let json = written(|out| preview(out, &p, false, true));
        let v: serde_json::Value = serde_json::from_str(&json).unwrap();
        assert_eq!(v["html"], "<p>Guten Tag</p>");
    }
}
