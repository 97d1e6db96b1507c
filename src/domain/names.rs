//! The calendar's own service and location names with their counts, and checking an outage's
//! scope against them: a `--service` that matches nothing is a typo far more often than a wish
//! to cancel nothing, and in a crisis it would leave every citizen uninformed without a word.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::domain::booking::list_items;
use crate::domain::outage::{Scope, normalise};

/// A name and how many bookings hold it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct NameCount {
    pub name: String,
    pub bookings: i64,
}

/// The services and locations of a set of bookings, each with its count, most frequent first.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct Names {
    pub services: Vec<NameCount>,
    pub locations: Vec<NameCount>,
}

impl Names {
    /// From (service, location, bookings) rows; a booking holding several services counts for
    /// each. Spellings that differ only in case or blanks are one name (the first seen wins).
    pub fn count(rows: &[(String, String, i64)]) -> Names {
        let mut services: BTreeMap<String, NameCount> = BTreeMap::new();
        let mut locations: BTreeMap<String, NameCount> = BTreeMap::new();
        for (service, location, n) in rows {
            for item in list_items(service) {
                add(&mut services, item, *n);
            }
            for item in list_items(location) {
                add(&mut locations, item, *n);
            }
        }
        Names {
            services: sorted(services),
            locations: sorted(locations),
        }
    }

    /// Refuses scope entries that match no name, with the closest known names.
    pub fn check(&self, scope: &Scope) -> Result<(), String> {
        let mut problems = Vec::new();
        for (what, wanted, known) in [
            ("service", &scope.services, &self.services),
            ("location", &scope.locations, &self.locations),
        ] {
            for name in wanted {
                let norm = normalise(name);
                if known.iter().any(|k| normalise(&k.name) == norm) {
                    continue;
                }
                problems.push(unknown(what, name, known));
            }
        }
        if problems.is_empty() {
            Ok(())
        } else {
            Err(problems.join("; "))
        }
    }
}

fn add(map: &mut BTreeMap<String, NameCount>, name: &str, n: i64) {
    map.entry(normalise(name))
        .or_insert_with(|| NameCount {
            name: name.to_string(),
            bookings: 0,
        })
        .bookings += n;
}

fn sorted(map: BTreeMap<String, NameCount>) -> Vec<NameCount> {
    let mut list: Vec<NameCount> = map.into_values().collect();
    list.sort_by(|a, b| b.bookings.cmp(&a.bookings).then(a.name.cmp(&b.name)));
    list
}

/// "service 'Kfz-Zulasung' matches no booking in the calendar; did you mean 'Kfz-Zulassung'?"
fn unknown(what: &str, name: &str, known: &[NameCount]) -> String {
    let norm = normalise(name);
    let mut close: Vec<(f64, &str)> = known
        .iter()
        .map(|k| {
            let other = normalise(&k.name);
            let score = if other.contains(&norm) || norm.contains(&other) {
                0.9
            } else {
                strsim::normalized_damerau_levenshtein(&norm, &other)
            };
            (score, k.name.as_str())
        })
        .filter(|(score, _)| *score >= 0.6)
        .collect();
    close.sort_by(|a, b| b.0.total_cmp(&a.0));
    let hint = match close.as_slice() {
        [] if known.is_empty() => " (the calendar has no upcoming bookings)".to_string(),
        [] => {
            let some: Vec<String> = known
                .iter()
                .take(8)
                .map(|k| format!("{:?}", k.name))
                .collect();
            format!("; known {what}s: {}", some.join(", "))
        }
        close => {
            let names: Vec<String> = close
                .iter()
                .take(3)
                .map(|(_, n)| format!("{n:?}"))
                .collect();
            format!("; did you mean {}?", names.join(" or "))
        }
    };
    format!("{what} {name:?} matches no upcoming booking in the calendar{hint}")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn calendar() -> Names {
        Names::count(&[
            (
                "Kfz-Zulassung\nPersonalausweis beantragen".into(),
                "Soest".into(),
                2,
            ),
            ("Kfz-Zulassung".into(), "Lippstadt".into(), 5),
            ("kfz-zulassung ".into(), "Soest".into(), 1),
            ("Führerschein".into(), "Soest".into(), 3),
        ])
    }

    #[test]
    fn names_are_counted_per_value_across_spellings() {
        let names = calendar();
        assert_eq!(
            names.services,
            vec![
                NameCount {
                    name: "Kfz-Zulassung".into(),
                    bookings: 8
                },
                NameCount {
                    name: "Führerschein".into(),
                    bookings: 3
                },
                NameCount {
                    name: "Personalausweis beantragen".into(),
                    bookings: 2
                },
            ]
        );
        assert_eq!(
            names.locations[0],
            NameCount {
                name: "Soest".into(),
                bookings: 6
            }
        );
    }

    #[test]
    fn a_scope_that_matches_nothing_names_the_closest_known_names() {
        let names = calendar();
        let ok = Scope {
            services: vec!["KFZ-Zulassung".into(), "personalausweis  beantragen".into()],
            locations: vec!["soest".into()],
        };
        assert_eq!(names.check(&ok), Ok(()));
        let typo = Scope {
            services: vec!["Kfz-Zulasung".into()],
            locations: vec!["Warstein".into()],
        };
        let err = names.check(&typo).unwrap_err();
        assert!(err.contains("did you mean \"Kfz-Zulassung\"?"), "{err}");
        assert!(
            err.contains("location \"Warstein\" matches no upcoming booking"),
            "{err}"
        );
        assert!(
            err.contains("known locations: \"Soest\", \"Lippstadt\""),
            "{err}"
        );
    }
}
