-- What an applied import read: a SHA-256 of the export's bytes and of the settings it was read
-- with. A later import of the same export finds the calendar already as it would make it, and
-- writes nothing (during an outage the same last export is read again and again).
alter table imports add column fingerprint text;
