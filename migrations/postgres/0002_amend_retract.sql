-- Outages that change their mind: amendments and retractions are recorded on the outage.
alter table outages add column retract_reason text;
alter table outages add column updated_at bigint;
