-- An email's text is written when it is sent, from the booking as it is then (the speed issue:
-- a state-wide declaration queues metadata, not 100,000 rendered emails inside its
-- transaction). Such a notification has no stored body.
alter table notifications alter column body_text drop not null;
