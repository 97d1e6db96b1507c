//! Writing one chunk of an export's rows inside the import's transaction: rejected rows
//! counted, repeated keys folded so that no citizen is lost, new and changed bookings upserted,
//! unchanged ones only touched.

use std::collections::{HashMap, HashSet};

use super::feed::Chunk;
use super::report::Rejected;
use super::snapshot::Importer;
use crate::domain::booking::BookingRecord;
use crate::store::bookings;

/// Rows of an export with the line each starts on.
type Rows = Vec<(BookingRecord, u64)>;

impl Importer<'_, '_> {
    /// Upserts one chunk: new and changed bookings in one statement, unchanged ones only
    /// touched. Repeated keys are folded first (see [`Self::fold_repeated_keys`]). A booking
    /// whose row is broken this time is kept as it was (touched), not taken for removed.
    pub(super) async fn apply_chunk(
        &mut self,
        tx: &mut crate::store::Tx,
        chunk: Chunk,
    ) -> anyhow::Result<()> {
        let (tenant, source) = (self.source.tenant.clone(), self.source.name.clone());
        let mut valid: Vec<(BookingRecord, u64)> = Vec::with_capacity(chunk.len());
        let mut broken_keys = Vec::new();
        let mut broken_at: HashMap<String, u64> = HashMap::new();
        for row in chunk {
            self.report.counts.rows_read += 1;
            match row {
                Ok(parsed) => {
                    self.report.note_row_warnings(&parsed.warnings);
                    let fields = &self.source.fields;
                    self.report
                        .note_contact(&parsed.record, parsed.line, fields);
                    valid.push((parsed.record, parsed.line));
                }
                Err(e) => {
                    if let Some(key) = &e.key {
                        broken_keys.push(key.clone());
                        broken_at.entry(key.clone()).or_insert(e.line);
                    }
                    self.report.reject(e.into());
                }
            }
        }
        let (valid, into_written) = self.fold_repeated_keys(valid, &broken_at);
        for key in &broken_keys {
            // The booking stays as it was; a later row of this key is not taken for it.
            self.persons.entry(key.clone()).or_default();
        }
        let mut keys: Vec<&str> = valid.iter().map(|(r, _)| r.key.as_str()).collect();
        keys.extend(broken_keys.iter().map(String::as_str));
        let existing = bookings::existing_by_keys(tx, &tenant, &source, &keys).await?;
        let mut seen = HashSet::new();
        let mut upserts = Vec::new();
        let mut touched = Vec::new();
        for (rec, line) in &valid {
            let old = existing.get(&rec.key);
            if !seen.insert(rec.key.as_str())
                || old.is_some_and(|o| o.last_import_id == self.import_id)
            {
                self.report.reject(Rejected {
                    line: *line,
                    cell: None,
                    field: "key".into(),
                    reason: format!(
                        "booking key {:?} appears more than once in this export; the first row was kept",
                        rec.key
                    ),
                });
                continue;
            }
            let hash = rec.content_hash();
            match old {
                None => {
                    self.report.counts.rows_new += 1;
                    upserts.push((rec, hash));
                }
                Some(o) if o.content_hash != hash || o.status == "gone" => {
                    self.report.counts.rows_updated += 1;
                    upserts.push((rec, hash));
                }
                Some(o) => {
                    self.report.counts.rows_unchanged += 1;
                    touched.push(o.id);
                }
            }
        }
        touched.extend(
            broken_keys
                .iter()
                .filter(|k| !seen.contains(k.as_str()))
                .filter_map(|k| existing.get(k))
                .filter(|o| o.last_import_id != self.import_id)
                .map(|o| o.id),
        );
        bookings::upsert_many(tx, &tenant, &source, &upserts, self.import_id, self.now).await?;
        bookings::touch(tx, &touched, self.import_id).await?;
        for (rec, _) in &into_written {
            bookings::absorb(tx, &tenant, &source, rec).await?;
        }
        Ok(())
    }

    /// Folds the rows of keys seen before in this export, so that no citizen is lost to a
    /// repeated key: a row of the same person and time is another service of the same
    /// appointment (an export joined with its services) and joins it; a row of another person
    /// is another citizen and gets the key `KEY#person`, and so does a row of a key whose
    /// earlier row was rejected (that citizen's booking stays as it was). Returns the rows to write and the
    /// merges into bookings an earlier chunk already wrote.
    fn fold_repeated_keys(
        &mut self,
        valid: Vec<(BookingRecord, u64)>,
        broken_at: &HashMap<String, u64>,
    ) -> (Rows, Rows) {
        let mut out: Rows = Vec::with_capacity(valid.len());
        // Each key of this chunk: where its row is in `out`, and its person.
        let mut index: HashMap<String, (usize, String)> = HashMap::new();
        let mut into_written: Rows = Vec::new();
        let mut warnings = Vec::new();
        // The person of the row that holds `key` so far, in this chunk or an earlier one.
        let first = |key: &str, index: &HashMap<String, (usize, String)>| {
            index
                .get(key)
                .map(|(_, person)| person.clone())
                .or_else(|| self.persons.get(key).cloned())
        };
        for (mut rec, line) in valid {
            let person = rec.person();
            let after_broken = broken_at.get(&rec.key).is_some_and(|&at| at < line);
            if after_broken || first(&rec.key, &index).is_some_and(|p| p != person) {
                let own = format!("{}#{person}", rec.key);
                warnings.push(format!(
                    "line {line}: booking key {:?} is used for another citizen too; imported as \
                     {own:?}",
                    rec.key
                ));
                rec.key = own;
            }
            if first(&rec.key, &index).is_some() {
                // The same person at the same time under this key: another row of the booking.
                match index.get(&rec.key) {
                    Some((i, _)) => out[*i].0.absorb(&rec),
                    None => into_written.push((rec, line)),
                }
                self.report.counts.rows_merged += 1;
                continue;
            }
            index.insert(rec.key.clone(), (out.len(), person));
            out.push((rec, line));
        }
        for (key, (_, person)) in index {
            self.persons.entry(key).or_insert(person);
        }
        for w in warnings {
            self.report.note_warning(w);
        }
        (out, into_written)
    }
}
