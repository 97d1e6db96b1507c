//! Small server-rendered SVG charts (no script, printable): per channel, how many messages were
//! sent, delivered, failed and expired since the declaration, over time; and where the messages
//! stand now.

use super::Lang;
use super::i18n::{label, translate};
use crate::store::notifications::{QueueCount, ReportNotification};
use chrono::{DateTime, Utc};
use std::fmt::Write;

const SERIES: [(&str, &str); 4] = [
    ("sent", "#2e7d32"),
    ("delivered", "#1565c0"),
    ("failed", "#c62828"),
    ("expired", "#6d4c41"),
];

/// When a notification reached `series`, if it did (milliseconds, to draw).
fn at(n: &ReportNotification, series: &str) -> Option<i64> {
    let at = match series {
        "sent" => n.sent_at,
        "delivered" if n.delivery_state.as_deref() == Some("delivered") => n.delivery_at,
        "failed" | "expired" if n.state.as_str() == series => n.finished_at,
        _ => None,
    };
    at.map(|t| t.timestamp_millis())
}

/// Cumulative counts over time since `from`, one panel per channel.
pub fn over_time(ns: &[ReportNotification], from: DateTime<Utc>, lang: Lang) -> String {
    let from_ms = from.timestamp_millis();
    const W: f64 = 420.0;
    const H: f64 = 90.0;
    const LEFT: f64 = 70.0;
    let events: Vec<i64> = ns
        .iter()
        .flat_map(|n| SERIES.iter().filter_map(move |(s, _)| at(n, s)))
        .collect();
    let to_ms = events
        .iter()
        .copied()
        .max()
        .unwrap_or(from_ms)
        .max(from_ms + 60_000);
    let span = (to_ms - from_ms) as f64;
    let mut svg = format!(
        r#"<svg role="img" aria-label="{}" width="560" height="{}" xmlns="http://www.w3.org/2000/svg" font-family="sans-serif" font-size="11">"#,
        translate(lang, "Nachrichten seit der Absage, im Zeitverlauf"),
        2.0 * (H + 40.0) + 20.0
    );
    for (panel, channel) in ["email", "sms"].iter().enumerate() {
        let top = 10.0 + panel as f64 * (H + 40.0);
        let mine: Vec<&ReportNotification> = ns
            .iter()
            .filter(|n| n.channel.as_str() == *channel)
            .collect();
        // Each panel's height is all of its channel's messages.
        let total = mine.len().max(1) as f64;
        let _ = write!(
            svg,
            r##"<text x="0" y="{}">{}</text><rect x="{LEFT}" y="{top}" width="{W}" height="{H}" fill="none" stroke="#999"/>"##,
            top + 12.0,
            label(lang, channel)
        );
        for (i, (series, colour)) in SERIES.iter().enumerate() {
            let mut times: Vec<i64> = mine.iter().filter_map(|n| at(n, series)).collect();
            times.sort_unstable();
            let mut points = format!("{LEFT},{}", top + H);
            for (k, t) in times.iter().enumerate() {
                let x = LEFT + (t - from_ms) as f64 / span * W;
                let y = top + H - (k + 1) as f64 / total * H;
                let _ = write!(points, " {x:.1},{:.1} {x:.1},{y:.1}", y + (1.0 / total * H));
            }
            let last_y = top + H - times.len() as f64 / total * H;
            let _ = write!(points, " {},{last_y:.1}", LEFT + W);
            let _ = write!(
                svg,
                r#"<polyline points="{points}" fill="none" stroke="{colour}" stroke-width="2"/><text x="{}" y="{}" fill="{colour}">{}: {}</text>"#,
                LEFT + 5.0 + i as f64 * 105.0,
                top + H + 14.0,
                label(lang, series),
                times.len()
            );
        }
        let _ = write!(
            svg,
            r#"<text x="{LEFT}" y="{}">0</text><text x="{}" y="{}" text-anchor="end">{:.0} min</text>"#,
            top + H + 28.0,
            LEFT + W,
            top + H + 28.0,
            span / 60_000.0
        );
    }
    svg.push_str("</svg>");
    svg
}

/// A bar per channel and state, as a small SVG (no script, printable).
pub fn by_state(queue: &[QueueCount], lang: Lang) -> String {
    const STATES: [(&str, &str); 5] = [
        ("sent", "#2e7d32"),
        ("queued", "#f9a825"),
        ("sending", "#1565c0"),
        ("failed", "#c62828"),
        ("expired", "#6d4c41"),
    ];
    let max = queue.iter().map(|q| q.count).max().unwrap_or(1).max(1) as f64;
    let mut svg = format!(
        r#"<svg role="img" aria-label="{}" width="520" height="200" xmlns="http://www.w3.org/2000/svg" font-family="sans-serif" font-size="12">"#,
        translate(lang, "Nachrichten je Kanal und Stand")
    );
    for (row, channel) in ["email", "sms"].iter().enumerate() {
        let y0 = 20 + row * 90;
        svg.push_str(&format!(
            r#"<text x="0" y="{}">{}</text>"#,
            y0 + 12,
            label(lang, channel)
        ));
        for (i, (state, colour)) in STATES.iter().enumerate() {
            let n = queue
                .iter()
                .find(|q| q.channel == *channel && q.state == *state)
                .map_or(0, |q| q.count);
            let w = (n as f64 / max * 300.0).round();
            let y = y0 + 18 + i * 13;
            svg.push_str(&format!(
                r#"<rect x="90" y="{y}" width="{w}" height="11" fill="{colour}"/><text x="{}" y="{}">{}: {n}</text>"#,
                95.0 + w,
                y + 10,
                label(lang, state)
            ));
        }
    }
    svg.push_str("</svg>");
    svg
}

#[cfg(test)]
mod tests {
    use super::*;

    fn n(
        channel: &str,
        state: &str,
        sent: Option<i64>,
        finished: Option<i64>,
    ) -> ReportNotification {
        ReportNotification {
            id: 1,
            booking_id: 1,
            kind: crate::domain::notification::Kind::Cancellation,
            channel: channel.to_owned().try_into().unwrap(),
            role: crate::domain::notification::Role::Primary,
            state: state.to_owned().try_into().unwrap(),
            attempts: 1,
            destination: None,
            sent_at: sent.map(crate::domain::from_millis),
            last_error: None,
            language: "de".into(),
            delivery_state: sent.map(|_| "delivered".into()),
            finished_at: finished.map(crate::domain::from_millis),
            delivery_at: sent.map(|s| crate::domain::from_millis(s + 5_000)),
        }
    }

    #[test]
    fn each_series_counts_its_messages_over_time() {
        let ns = [
            n("email", "sent", Some(60_000), Some(60_000)),
            n("sms", "sent", Some(30_000), Some(30_000)),
            n("sms", "failed", None, Some(120_000)),
        ];
        let svg = over_time(&ns, crate::domain::from_millis(0), Lang::De);
        assert!(svg.starts_with("<svg") && svg.ends_with("</svg>"));
        assert_eq!(svg.matches("<polyline").count(), 8, "4 series × 2 channels");
        assert!(svg.contains(">versandt: 1<"));
        assert!(svg.contains(">gescheitert: 1<"));
        assert!(svg.contains(">2 min<"), "the axis spans to the last event");
        assert!(over_time(&ns, crate::domain::from_millis(0), Lang::En).contains(">too late: 0<"));
    }
}
