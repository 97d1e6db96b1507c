-- Retention: a run is closed once its window is over and nothing is pending; contact data is
-- deleted a configured number of days later, keeping the rows (and so the counts) for the record.
alter table outages add column closed_at bigint;
alter table outages add column purged_at bigint;
