-- An email's text is written when it is sent, from the booking as it is then (the speed issue:
-- a state-wide declaration queues metadata, not 100,000 rendered emails inside its
-- transaction). Such a notification has no stored body: body_text becomes nullable. SQLite
-- cannot drop a NOT NULL constraint in place, so the table is rebuilt with every column,
-- constraint and index it has after 0010; nothing references notifications.
create table notifications_new (
    id              integer primary key autoincrement,
    tenant_id       text    not null,
    outage_id       integer not null references outages (id),
    booking_id      integer not null references bookings (id),
    channel         text    not null
        constraint notifications_channel_check check (channel in ('email', 'sms')),
    kind            text    not null,
    role            text    not null
        constraint notifications_role_check check (role in ('primary', 'fallback')),
    recipient       text    not null,            -- email address or E.164 number
    language        text    not null,
    subject         text,
    body_text       text,                        -- null: written when sent (email)
    body_html       text,
    state           text    not null
        constraint notifications_state_check
        check (state in ('queued', 'sending', 'sent', 'failed', 'expired', 'cancelled')),
    attempts        integer not null default 0,
    next_attempt_at integer not null,
    deadline        integer not null,            -- the appointment's start: never sent at or after it
    lease_until     integer,
    lease_owner     text,
    destination     text,                        -- relay or gateway that took it
    message_id      text,
    provider_id     text,
    last_error      text,
    created_at      integer not null,
    sent_at         integer,
    finished_at     integer,
    delivery_state  text,
    delivery_at     integer,
    claims          integer not null default 0,
    constraint notifications_once unique (outage_id, booking_id, channel, kind)
);
insert into notifications_new (id, tenant_id, outage_id, booking_id, channel, kind, role,
    recipient, language, subject, body_text, body_html, state, attempts, next_attempt_at,
    deadline, lease_until, lease_owner, destination, message_id, provider_id, last_error,
    created_at, sent_at, finished_at, delivery_state, delivery_at, claims)
select id, tenant_id, outage_id, booking_id, channel, kind, role,
    recipient, language, subject, body_text, body_html, state, attempts, next_attempt_at,
    deadline, lease_until, lease_owner, destination, message_id, provider_id, last_error,
    created_at, sent_at, finished_at, delivery_state, delivery_at, claims
from notifications;
drop table notifications;
alter table notifications_new rename to notifications;
create index notifications_claim_idx on notifications (channel, deadline, id)
    where state in ('queued', 'sending');
create index notifications_next_idx on notifications (channel, next_attempt_at)
    where state = 'queued';
create index notifications_booking_idx on notifications (booking_id, outage_id);
