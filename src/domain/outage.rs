//! Outage windows and scopes: which bookings a declared outage (or batch) affects.

use crate::domain::booking::list_items;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// A half-open window `[from, to)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Window {
    pub from: DateTime<Utc>,
    pub to: DateTime<Utc>,
}

impl Window {
    /// A window must not be empty or reversed.
    pub fn new(from: DateTime<Utc>, to: DateTime<Utc>) -> Result<Self, String> {
        if to <= from {
            return Err(format!("the window ends ({to}) before it starts ({from})"));
        }
        Ok(Self { from, to })
    }

    /// A booking `[start, end)` is affected iff the two half-open intervals overlap:
    /// `start < to && end > from`. A booking that ends exactly when the outage starts, or starts
    /// exactly when it ends, is not affected.
    pub fn overlaps(&self, start: DateTime<Utc>, end: DateTime<Utc>) -> bool {
        start < self.to && end > self.from
    }
}

/// Which services and locations a run covers; an empty list means all.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Scope {
    pub services: Vec<String>,
    pub locations: Vec<String>,
}

impl Scope {
    /// Whether a booking's service and location fall in the scope. Matching ignores case and
    /// how blanks are written, because exports and operators spell the same service
    /// differently ("Kfz-Zulassung" vs "kfz-zulassung "); a booking holding several services
    /// (`Kfz-Zulassung, Personalausweis`) is in the scope when one of them is.
    pub fn matches(&self, service: &str, location: &str) -> bool {
        fn any(list: &[String], value: &str) -> bool {
            list.is_empty()
                || std::iter::once(value)
                    .chain(list_items(value))
                    .map(normalise)
                    .any(|v| list.iter().any(|wanted| normalise(wanted) == v))
        }
        any(&self.services, service) && any(&self.locations, location)
    }

    /// The normalised form stored with a run: see [`normalise`].
    pub fn normalised(&self) -> Scope {
        let norm = |l: &[String]| {
            let mut v: Vec<String> = l
                .iter()
                .map(|s| normalise(s))
                .filter(|s| !s.is_empty())
                .collect();
            v.sort();
            v.dedup();
            v
        };
        Scope {
            services: norm(&self.services),
            locations: norm(&self.locations),
        }
    }
}

/// A service or location name for comparing: in Unicode NFKC, dashes as hyphens, lowercased,
/// blanks trimmed and runs of white space (also no-break spaces) folded to one space.
pub fn normalise(name: &str) -> String {
    use unicode_normalization::UnicodeNormalization;
    // NFKC: "Führerschein" typed on a Mac (u + combining diaeresis) is the same service; any
    // dash (‐ ‑ – — −) is a hyphen.
    let folded: String = name
        .nfkc()
        .map(|c| match c {
            '\u{2010}'..='\u{2015}' | '\u{2212}' | '\u{fe58}' | '\u{fe63}' | '\u{ff0d}' => '-',
            c => c,
        })
        .collect();
    folded
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .to_lowercase()
}

/// What selects the bookings of a run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Selection {
    /// Every active booking overlapping the window within the scope.
    Window { window: Window, scope: Scope },
    /// Exactly these booking keys (an admin's list), still within the scope.
    Keys { keys: Vec<String>, scope: Scope },
}

impl Selection {
    /// The services and locations it is limited to.
    pub fn scope(&self) -> &Scope {
        match self {
            Selection::Window { scope, .. } | Selection::Keys { scope, .. } => scope,
        }
    }

    /// The same selection with its scope's names normalised.
    pub fn normalised(&self) -> Selection {
        match self {
            Selection::Window { window, scope } => Selection::Window {
                window: *window,
                scope: scope.normalised(),
            },
            Selection::Keys { keys, scope } => Selection::Keys {
                keys: keys.clone(),
                scope: scope.normalised(),
            },
        }
    }
}

/// Whether a run is an outage (re-matched after every import) or a one-off batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RunKind {
    Outage,
    Batch,
}

impl RunKind {
    pub fn as_str(self) -> &'static str {
        match self {
            RunKind::Outage => "outage",
            RunKind::Batch => "batch",
        }
    }
}

impl std::fmt::Display for RunKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.pad(self.as_str())
    }
}

/// Where a run is in its life: active (matched after every import), retracted (declared by
/// mistake; its appointments stand), closed (over; kept until retention).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RunState {
    Active,
    Retracted,
    Closed,
}

impl RunState {
    pub fn as_str(self) -> &'static str {
        match self {
            RunState::Active => "active",
            RunState::Retracted => "retracted",
            RunState::Closed => "closed",
        }
    }
}

impl std::fmt::Display for RunState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.pad(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn t(h: u32, m: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 2, h, m, 0).unwrap()
    }

    #[test]
    fn overlap_is_half_open_at_both_edges() {
        let w = Window::new(t(8, 0), t(12, 0)).unwrap();
        assert!(
            !w.overlaps(t(7, 30), t(8, 0)),
            "ends when the outage starts"
        );
        assert!(
            w.overlaps(t(7, 30), t(8, 1)),
            "ends a minute into the outage"
        );
        assert!(
            w.overlaps(t(11, 59), t(12, 15)),
            "starts a minute before the end"
        );
        assert!(
            !w.overlaps(t(12, 0), t(12, 15)),
            "starts when the outage ends"
        );
        assert!(w.overlaps(t(7, 0), t(13, 0)), "spans the whole outage");
    }

    /// Found by attacking the release build: an export written on a Mac spells "ü" as "u" and a
    /// combining diaeresis, another system writes "Kfz–Zulassung" with an en dash. The same
    /// service must match, or its citizens are left out of the outage.
    #[test]
    fn the_same_name_in_other_unicode_spellings_matches() {
        let s = Scope {
            services: vec!["Führerschein".into(), "Kfz-Zulassung".into()],
            locations: vec![],
        };
        assert!(s.matches("Fu\u{308}hrerschein", "Soest"), "NFD from a Mac");
        assert!(s.matches("Kfz–Zulassung", "Soest"), "en dash");
        assert!(
            s.matches("Kfz\u{2011}Zulassung", "Soest"),
            "no-break hyphen"
        );
        assert!(s.matches("ＫＦＺ-Zulassung", "Soest"), "full-width letters");
        assert!(!s.matches("Kfz Zulassung", "Soest"), "a blank is no hyphen");
    }

    #[test]
    fn empty_or_reversed_windows_are_refused() {
        assert!(Window::new(t(8, 0), t(8, 0)).is_err());
        assert!(Window::new(t(9, 0), t(8, 0)).is_err());
    }

    #[test]
    fn empty_scope_matches_everything_and_lists_match_case_insensitively() {
        assert!(Scope::default().matches("Zulassung", "Soest"));
        let s = Scope {
            services: vec!["zulassung".into()],
            locations: vec![],
        };
        assert!(s.matches("Zulassung ", "Lippstadt"));
        assert!(!s.matches("Führerschein", "Soest"));
        assert!(s.matches("  ZULASSUNG", "Soest"));
    }

    #[test]
    fn a_booking_with_several_services_is_in_the_scope_of_each() {
        let s = Scope {
            services: vec!["Personalausweis  beantragen".into()],
            locations: vec![],
        };
        assert!(s.matches("Kfz-Zulassung\npersonalausweis beantragen", "Soest"));
        assert!(!s.matches("Kfz-Zulassung\nReisepass", "Soest"));
        // A single service whose name holds a comma is not split.
        let comma = Scope {
            services: vec!["Beglaubigungen, Kopien".into()],
            locations: vec![],
        };
        assert!(comma.matches("Beglaubigungen, Kopien", "Soest"));
        assert!(!comma.matches("Kopien", "Soest"));
        let s = Scope {
            services: vec![],
            locations: vec!["Soest".into(), "Lippstadt".into()],
        };
        assert!(s.matches("x", "lippstadt"));
        assert!(!s.matches("x", "Werl"));
    }
}
