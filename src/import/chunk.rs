//! Writing one chunk of an export's rows inside the import's transaction: rejected rows
//! counted, repeated keys folded so that no citizen is lost, new and changed bookings upserted,
//! unchanged ones only touched.
//!
//! Which keys this import already wrote, and for which person, is asked of the store (the
//! bookings it wrote carry its id and their row's person), not kept in memory: an export of
//! millions of rows would otherwise hold every key until its end. Only the keys whose first row
//! was rejected are kept ([`Importer::broken_first`]).

use std::collections::{HashMap, HashSet};

use super::feed::Chunk;
use super::report::Rejected;
use super::snapshot::Importer;
use crate::domain::booking::BookingRecord;
use crate::store::bookings::{self, Existing, Write};

/// A valid row of an export: the record, the line it starts on, its person and content hash.
struct Row {
    record: BookingRecord,
    line: u64,
    person: String,
    content_hash: String,
    /// The record was changed by folding (another key, another row joined): its content hash
    /// is computed anew.
    folded: bool,
}

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
        let mut valid: Vec<Row> = Vec::with_capacity(chunk.len());
        let mut broken_keys = Vec::new();
        let mut broken_at: HashMap<String, u64> = HashMap::new();
        for row in chunk {
            self.report.counts.rows_read += 1;
            match row {
                Ok(hashed) => {
                    let parsed = hashed.row;
                    self.report.note_row_warnings(&parsed.warnings);
                    let fields = &self.source.fields;
                    self.report
                        .note_contact(&parsed.record, parsed.line, fields);
                    valid.push(Row {
                        record: parsed.record,
                        line: parsed.line,
                        person: hashed.person,
                        content_hash: hashed.content_hash,
                        folded: false,
                    });
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
        let mut keys: Vec<&str> = valid.iter().map(|r| r.record.key.as_str()).collect();
        keys.extend(broken_keys.iter().map(String::as_str));
        let mut existing = bookings::existing_by_keys(tx, &tenant, &source, &keys).await?;
        // The keys repeated rows may be given (KEY#person), when any row may be one.
        let renamed = self.possible_renames(&valid, &broken_at, &existing);
        if !renamed.is_empty() {
            let renamed: Vec<&str> = renamed.iter().map(String::as_str).collect();
            existing.extend(bookings::existing_by_keys(tx, &tenant, &source, &renamed).await?);
        }
        let (mut valid, into_written) = self.fold_repeated_keys(valid, &broken_at, &existing);
        for row in valid.iter_mut().filter(|row| row.folded) {
            row.content_hash = row.record.content_hash();
        }
        if !broken_keys.is_empty() {
            // The booking stays as it was; a later row of this key is not taken for it.
            let written: HashSet<&str> = valid.iter().map(|r| r.record.key.as_str()).collect();
            for key in &broken_keys {
                if !written.contains(key.as_str()) && self.holder(key, &existing).is_none() {
                    self.broken_first.insert(key.clone());
                }
            }
        }
        let mut seen = HashSet::new();
        let mut upserts = Vec::new();
        let mut touched = Vec::new();
        let mut persons = Vec::new();
        for row in &valid {
            let (rec, line, hash) = (&row.record, row.line, &row.content_hash);
            let old = existing.get(&rec.key);
            if !seen.insert(rec.key.as_str())
                || old.is_some_and(|o| o.last_import_id == self.import_id)
            {
                self.report.reject(Rejected {
                    line,
                    cell: None,
                    field: "key".into(),
                    reason: format!(
                        "booking key {:?} appears more than once in this export; the first row was kept",
                        rec.key
                    ),
                });
                continue;
            }
            let write = Write {
                record: rec,
                content_hash: hash,
                person: &row.person,
                new: old.is_none(),
            };
            match old {
                None => {
                    self.report.counts.rows_new += 1;
                    upserts.push(write);
                }
                Some(o) if o.content_hash != *hash || o.status == "gone" => {
                    self.report.counts.rows_updated += 1;
                    upserts.push(write);
                }
                Some(o) => {
                    self.report.counts.rows_unchanged += 1;
                    touched.push(o.id);
                    if o.person.is_none() {
                        persons.push((o.id, row.person.as_str()));
                    }
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
        bookings::set_persons(tx, &persons).await?;
        for row in &into_written {
            bookings::absorb(tx, &tenant, &source, &row.record).await?;
        }
        Ok(())
    }

    /// The person of the row that holds `key` in an earlier chunk of this import: the booking
    /// it wrote (or touched), or none ("") when the key's first row was rejected.
    fn holder(&self, key: &str, existing: &HashMap<String, Existing>) -> Option<String> {
        if self.broken_first.contains(key) {
            return Some(String::new());
        }
        existing
            .get(key)
            .filter(|o| o.last_import_id == self.import_id)
            .map(|o| o.person.clone().unwrap_or_default())
    }

    /// The keys (`KEY#person`) that [`Self::fold_repeated_keys`] may give rows of this chunk:
    /// those of rows whose key appears in the chunk more than once, was rejected in it, or
    /// was written by an earlier chunk. Empty for an export without repeated keys.
    fn possible_renames(
        &self,
        valid: &[Row],
        broken_at: &HashMap<String, u64>,
        existing: &HashMap<String, Existing>,
    ) -> Vec<String> {
        let mut count: HashMap<&str, usize> = HashMap::with_capacity(valid.len());
        for row in valid {
            *count.entry(row.record.key.as_str()).or_default() += 1;
        }
        valid
            .iter()
            .filter(|row| {
                let key = row.record.key.as_str();
                count[key] > 1
                    || broken_at.contains_key(key)
                    || self.holder(key, existing).is_some()
            })
            .map(|row| format!("{}#{}", row.record.key, row.person))
            .filter(|key| !existing.contains_key(key))
            .collect::<HashSet<_>>()
            .into_iter()
            .collect()
    }

    /// Folds the rows of keys seen before in this export, so that no citizen is lost to a
    /// repeated key: a row of the same person and time is another service of the same
    /// appointment (an export joined with its services) and joins it; a row of another person
    /// is another citizen and gets the key `KEY#person`, and so does a row of a key whose
    /// earlier row was rejected (that citizen's booking stays as it was). `existing` holds
    /// what the store has for every key a row may end up with. Returns the rows to write and
    /// the merges into bookings an earlier chunk already wrote.
    fn fold_repeated_keys(
        &mut self,
        valid: Vec<Row>,
        broken_at: &HashMap<String, u64>,
        existing: &HashMap<String, Existing>,
    ) -> (Vec<Row>, Vec<Row>) {
        let mut out: Vec<Row> = Vec::with_capacity(valid.len());
        // Each key of this chunk: where its row is in `out`.
        let mut index: HashMap<String, usize> = HashMap::new();
        let mut into_written = Vec::new();
        let mut warnings = Vec::new();
        for mut row in valid {
            // The person of the row that holds the key so far, in this chunk or an earlier one.
            let first = |key: &str, index: &HashMap<String, usize>, out: &[Row]| {
                index
                    .get(key)
                    .map(|&i| out[i].person.clone())
                    .or_else(|| self.holder(key, existing))
            };
            let after_broken = broken_at
                .get(&row.record.key)
                .is_some_and(|&at| at < row.line);
            if after_broken || first(&row.record.key, &index, &out).is_some_and(|p| p != row.person)
            {
                let own = format!("{}#{}", row.record.key, row.person);
                warnings.push(format!(
                    "line {}: booking key {:?} is used for another citizen too; imported as \
                     {own:?}",
                    row.line, row.record.key
                ));
                row.record.key = own;
                row.folded = true;
            }
            if first(&row.record.key, &index, &out).is_some() {
                // The same person at the same time under this key: another row of the booking.
                match index.get(&row.record.key) {
                    Some(&i) => {
                        out[i].record.absorb(&row.record);
                        out[i].folded = true;
                    }
                    None => into_written.push(row),
                }
                self.report.counts.rows_merged += 1;
                continue;
            }
            index.insert(row.record.key.clone(), out.len());
            out.push(row);
        }
        for w in warnings {
            self.report.note_warning(w);
        }
        (out, into_written)
    }
}
