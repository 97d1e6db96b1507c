//! Writing one chunk of an export's rows inside the import's transaction: rejected rows
//! counted, repeated keys folded so that no citizen is lost, new and changed bookings upserted,
//! unchanged ones only touched. A chunk is decided and its statements bound while the database
//! writes the chunk before ([`Importer::apply_chunk`]).
//!
//! Which keys this import already wrote, and for which person, is asked of the store (the
//! bookings it wrote carry its id and their row's person), not kept in memory: an export of
//! millions of rows would otherwise hold every key until its end. Only the keys whose first row
//! was rejected are kept ([`Importer::broken_first`]), and, in the first import of a source, a
//! Bloom filter of the keys written ([`Written`]), which spares the lookups that would find
//! nothing.

use fastbloom::BloomFilter;
use foldhash::fast::RandomState;
use std::collections::{HashMap, HashSet};

use tokio::sync::mpsc;

use super::feed::{Chunk, ReaderMsg};
use super::report::Rejected;
use super::snapshot::Importer;
use crate::domain::booking::{BookingRecord, same_content};
use crate::store::bookings::{self, Existing, Write};

/// The chunk's maps: its keys are hashed several times each, with foldhash, seeded at random
/// as std's hasher is.
type Map<K, V> = HashMap<K, V, RandomState>;
type Set<K> = HashSet<K, RandomState>;

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

/// A chunk's rows sorted ([`Importer::sort`]): the valid ones, and the keys of the rejected
/// ones with the line each was first rejected on.
pub(super) struct Sorted {
    valid: Vec<Row>,
    broken_keys: Vec<String>,
    broken_at: Map<String, u64>,
}

/// What a chunk writes, decided and bound ([`Importer::plan`]). It is written
/// ([`Plan::write`]) while the next chunk is decided and bound, and before that chunk's
/// lookups of the keys it writes ([`Plan::keys`]).
pub(super) struct Plan {
    rows: Vec<Row>,
    /// The rows of `rows` upserted, each with whether it is new.
    upserts: Vec<(usize, bool)>,
    /// Their statements, bound.
    bound: bookings::Upserts,
    /// Unchanged bookings: touched, and given the person of their row (the row's index) when
    /// they were written before persons were kept.
    touched: Vec<i64>,
    persons: Vec<(i64, usize)>,
    /// Rows merged into bookings an earlier chunk wrote.
    into_written: Vec<Row>,
    /// Every key the plan writes or touches.
    keys: Set<String>,
    tenant: String,
    source: String,
    import_id: i64,
    now: chrono::DateTime<chrono::Utc>,
}

/// The keys an import wrote or touched so far, kept when the store held no booking of the
/// source before it (not even a gone one): then a key that is not in here is not in the store
/// either, and is not looked up. The first import of a large calendar thus spends no time on
/// lookups that find nothing. A Bloom filter of 1.8 MiB: it never misses a key it holds, and
/// takes about one key in a thousand for held by mistake, which is then looked up as before.
/// Past a million keys such mistakes grow more frequent (about 6 % at two million), and so do
/// the lookups; the outcome is the same.
pub(super) struct Written(BloomFilter<RandomState>);

impl Default for Written {
    fn default() -> Written {
        Written(
            BloomFilter::with_false_pos(0.001)
                .hasher(RandomState::default())
                .expected_items(1_000_000),
        )
    }
}

/// What the reader sent next, its rows sorted.
pub(super) enum Next {
    Rows(Sorted),
    /// The export could not be read to its end: nothing may be applied.
    Aborted(String),
    End,
}

/// The plans of the chunks in flight: the one bound and waiting for its turn, and the one
/// written last, whose rows are dropped while the database writes the next (freeing 500 rows
/// between two statements would keep the database waiting).
#[derive(Default)]
pub(super) struct InFlight {
    pending: Option<Plan>,
    written: Option<Plan>,
}

impl Plan {
    /// Writes what the plan decided, its bound statements first.
    async fn write(&mut self, tx: &mut crate::store::Tx) -> anyhow::Result<()> {
        let writes: Vec<Write> = self
            .upserts
            .iter()
            .map(|&(i, new)| self.rows[i].write(new))
            .collect();
        let (tenant, source) = (self.tenant.as_str(), self.source.as_str());
        bookings::write_upserts(
            tx,
            std::mem::take(&mut self.bound),
            (tenant, source),
            &writes,
            self.import_id,
            self.now,
        )
        .await?;
        bookings::touch(tx, &self.touched, self.import_id).await?;
        let persons: Vec<(i64, &str)> = (self.persons.iter())
            .map(|&(id, i)| (id, self.rows[i].person.as_str()))
            .collect();
        bookings::set_persons(tx, &persons).await?;
        for row in &self.into_written {
            bookings::absorb(tx, tenant, source, &row.record).await?;
        }
        Ok(())
    }
}

impl Row {
    fn write(&self, new: bool) -> Write<'_> {
        Write {
            record: &self.record,
            content_hash: &self.content_hash,
            person: &self.person,
            new,
        }
    }
}

/// Writes the pending plan, if any: the chunk before, or at the end the last chunk.
pub(super) async fn write_last(
    tx: &mut crate::store::Tx,
    flight: &mut InFlight,
) -> anyhow::Result<()> {
    if let Some(mut plan) = flight.pending.take() {
        plan.write(tx).await?;
        flight.written = Some(plan);
    }
    Ok(())
}

impl Importer<'_, '_> {
    /// Receives the reader's next chunk and sorts its rows.
    pub(super) async fn receive(&mut self, rx: &mut mpsc::Receiver<ReaderMsg>) -> Next {
        match rx.recv().await {
            Some(ReaderMsg::Rows(chunk)) => Next::Rows(self.sort(chunk)),
            Some(ReaderMsg::Aborted(why)) => Next::Aborted(why),
            Some(ReaderMsg::End) => Next::End,
            // The reader stopped without saying how: it panicked (it stops early by itself
            // only when the importer no longer listens). Its rows may be a part of the export.
            None => {
                Next::Aborted("the export could not be read to its end (the reader failed)".into())
            }
        }
    }

    /// Applies one chunk, its rows sorted: the store's bookings of its keys looked up, then
    /// the chunk before (`flight`'s pending plan) written while this one is decided and bound
    /// ([`Self::plan`]) and the next one received and sorted, which is returned; this chunk's
    /// plan is pending then. The database thus goes from one chunk's write to the next
    /// chunk's lookup without waiting. A lookup of a key the pending plan writes waits for
    /// that write, so each chunk sees what every chunk before it wrote.
    pub(super) async fn apply_chunk(
        &mut self,
        tx: &mut crate::store::Tx,
        sorted: Sorted,
        flight: &mut InFlight,
        rx: &mut mpsc::Receiver<ReaderMsg>,
    ) -> anyhow::Result<Next> {
        let existing = self.look_up(tx, &sorted, flight).await?;
        let postgres = tx.backend_name() == "PostgreSQL";
        let spent = flight.written.take();
        let (written, (plan, next)) = tokio::join!(write_last(tx, flight), async {
            let plan = self.plan(sorted, existing, postgres);
            drop(spent);
            (plan, self.receive(rx).await)
        });
        written?;
        flight.pending = Some(plan);
        Ok(next)
    }

    /// Counts the chunk's rows and reports the rejected ones.
    fn sort(&mut self, chunk: Chunk) -> Sorted {
        let mut valid: Vec<Row> = Vec::with_capacity(chunk.len());
        let mut broken_keys = Vec::new();
        let mut broken_at: Map<String, u64> = Map::default();
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
        Sorted {
            valid,
            broken_keys,
            broken_at,
        }
    }

    /// What the store holds for every key the chunk's rows may end up with: their own, and
    /// `KEY#person` where a row may be renamed ([`Self::possible_renames`]).
    async fn look_up(
        &self,
        tx: &mut crate::store::Tx,
        sorted: &Sorted,
        flight: &mut InFlight,
    ) -> anyhow::Result<HashMap<String, Existing>> {
        let mut keys: Vec<&str> = sorted.valid.iter().map(|r| r.record.key.as_str()).collect();
        keys.extend(sorted.broken_keys.iter().map(String::as_str));
        let mut existing = self.stored(tx, &keys, flight).await?;
        let renamed = self.possible_renames(&sorted.valid, &sorted.broken_at, &existing);
        if !renamed.is_empty() {
            let renamed: Vec<&str> = renamed.iter().map(String::as_str).collect();
            existing.extend(self.stored(tx, &renamed, flight).await?);
        }
        Ok(existing)
    }

    /// What the store holds of `keys`. The pending plan is written first when it writes one
    /// of them. When the store held no booking of the source before this import, only the
    /// keys it may have written ([`Written`]) are asked for, and often none is.
    async fn stored(
        &self,
        tx: &mut crate::store::Tx,
        keys: &[&str],
        flight: &mut InFlight,
    ) -> anyhow::Result<HashMap<String, Existing>> {
        let keys: Vec<&str> = match &self.written {
            Some(written) => (keys.iter().copied())
                .filter(|k| written.0.contains(*k))
                .collect(),
            None => keys.to_vec(),
        };
        if keys.is_empty() {
            return Ok(HashMap::new());
        }
        let pending = flight.pending.as_ref();
        if pending.is_some_and(|plan| keys.iter().any(|k| plan.keys.contains(*k))) {
            write_last(tx, flight).await?;
        }
        let (tenant, source) = (&self.source.tenant, &self.source.name);
        Ok(bookings::existing_by_keys(tx, tenant, source, &keys).await?)
    }

    /// Decides what the chunk writes: repeated keys folded (see [`Self::fold_repeated_keys`]),
    /// new and changed bookings upserted (bound here, in one statement), unchanged ones only
    /// touched. A booking whose row is broken this time is kept as it was (touched), not
    /// taken for removed.
    fn plan(
        &mut self,
        sorted: Sorted,
        mut existing: HashMap<String, Existing>,
        postgres: bool,
    ) -> Plan {
        let Sorted {
            valid,
            broken_keys,
            broken_at,
        } = sorted;
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
        let mut seen = Set::with_capacity_and_hasher(valid.len(), RandomState::default());
        let mut upserts = Vec::new();
        let mut touched = Vec::new();
        let mut persons = Vec::new();
        let mut keys = Set::with_capacity_and_hasher(valid.len(), RandomState::default());
        for (i, row) in valid.iter().enumerate() {
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
            keys.insert(rec.key.clone());
            match old {
                None => {
                    self.report.counts.rows_new += 1;
                    upserts.push((i, true));
                }
                Some(o) if !same_content(&o.content_hash, hash) || o.status == "gone" => {
                    self.report.counts.rows_updated += 1;
                    upserts.push((i, false));
                }
                Some(o) => {
                    self.report.counts.rows_unchanged += 1;
                    touched.push(o.id);
                    if o.person.is_none() {
                        persons.push((o.id, i));
                    }
                }
            }
        }
        for key in broken_keys.iter().filter(|k| !seen.contains(k.as_str())) {
            if let Some(o) = existing.remove(key)
                && o.last_import_id != self.import_id
            {
                touched.push(o.id);
                keys.insert(key.clone());
            }
        }
        keys.extend(into_written.iter().map(|row| row.record.key.clone()));
        if let Some(written) = &mut self.written {
            for key in &keys {
                written.0.insert(key.as_str());
            }
        }
        let writes: Vec<Write> = upserts
            .iter()
            .map(|&(i, new)| valid[i].write(new))
            .collect();
        let (tenant, source) = (&self.source.tenant, &self.source.name);
        let bound =
            bookings::bind_upserts(postgres, tenant, source, &writes, self.import_id, self.now);
        drop(writes);
        Plan {
            rows: valid,
            upserts,
            bound,
            touched,
            persons,
            into_written,
            keys,
            tenant: tenant.clone(),
            source: source.clone(),
            import_id: self.import_id,
            now: self.now,
        }
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
        broken_at: &Map<String, u64>,
        existing: &HashMap<String, Existing>,
    ) -> Vec<String> {
        let mut count: Map<&str, usize> =
            Map::with_capacity_and_hasher(valid.len(), RandomState::default());
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
        broken_at: &Map<String, u64>,
        existing: &HashMap<String, Existing>,
    ) -> (Vec<Row>, Vec<Row>) {
        let mut out: Vec<Row> = Vec::with_capacity(valid.len());
        // Each key of this chunk: where its row is in `out`.
        let mut index: Map<String, usize> = Map::default();
        let mut into_written = Vec::new();
        let mut warnings = Vec::new();
        for mut row in valid {
            // The person of the row that holds the key so far, in this chunk or an earlier one.
            let first = |key: &str, index: &Map<String, usize>, out: &[Row]| {
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
