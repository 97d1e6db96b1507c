-- Who and when the row that wrote a booking names (BookingRecord::person: a short hash of start,
-- name, email and phone). An import folds a later row of the same key by it — the same person
-- joins the booking, another gets KEY#person — without holding every key of the export in
-- memory. Null for bookings written before; an import that sees one unchanged fills it in.
alter table bookings add column person text;
