-- When a running instance first saw another instance's heartbeat run out (null while it beats).
-- An instance's claims on notifications are taken over only once it has been seen gone for a
-- heartbeat's lifetime: after a database outage every heartbeat has run out, and a live
-- instance, with sends to record, needs that long to beat again.
alter table job_leases add column gone_since bigint;
