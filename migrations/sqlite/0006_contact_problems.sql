-- No citizen lost: a broken email address or phone number costs that channel, never the booking.
-- Why the export's contact data could not be used (never the value), and the further numbers
-- staff can try when they phone the citizen.
alter table bookings add column email_problem text;
alter table bookings add column phone_problem text;
alter table bookings add column phone_other text;    -- numbers as typed, one per line

-- A booking that vanished from the export while an outage cancels it stays affected until a
-- person confirms the removal: a truncated or wrong export must not take a cancellation back.
alter table targets add column removal_pending_since integer;

-- The import history counts rows whose status says they are no appointment (drafts, blocked
-- slots), and the contact problems per field with the first rows that had them.
alter table imports add column rows_ignored integer not null default 0;
alter table imports add column contact_json text;
