-- absage schema, SQLite dialect. A PostgreSQL twin will live in migrations/postgres/.
-- Conventions that keep the two backends one store API:
--   * every instant is an INTEGER/BIGINT of Unix milliseconds, UTC;
--   * every row carries its tenant_id;
--   * constraints are named, so the store can map violations to errors;
--   * booleans are INTEGER 0/1.

-- One reading of one source. Kept for the import history and `absage status`.
create table imports (
    id              integer primary key autoincrement,
    tenant_id       text    not null,
    source          text    not null,
    location        text    not null,            -- file or URL read
    started_at      integer not null,
    finished_at     integer,
    outcome         text    not null
        constraint imports_outcome_check check (outcome in ('running', 'applied', 'refused', 'failed')),
    rows_read       integer not null default 0,
    rows_new        integer not null default 0,
    rows_updated    integer not null default 0,
    rows_unchanged  integer not null default 0,
    rows_removed    integer not null default 0,
    rows_rejected   integer not null default 0,
    message         text,                         -- why refused/failed; never personal data
    rejected_json   text                          -- first rejected rows: [{line, field, reason}]
);
create index imports_source_idx on imports (tenant_id, source, id);

-- absage's own copy of the calendar: one row per appointment, upserted by its key within its source.
create table bookings (
    id              integer primary key autoincrement,
    tenant_id       text    not null,
    source          text    not null,
    booking_key     text    not null,
    starts_at       integer not null,
    ends_at         integer not null,
    service         text    not null,
    location        text    not null,
    name            text    not null,
    email           text,
    phone_raw       text,
    phone_e164      text,
    phone_mobile    integer not null default 0,
    language        text,
    status          text    not null
        constraint bookings_status_check check (status in ('active', 'cancelled', 'gone')),
    content_hash    text    not null,
    revision        integer not null default 1,  -- bumped on every change; re-matching looks at it
    last_import_id  integer not null,
    updated_at      integer not null,
    constraint bookings_key_unique unique (tenant_id, source, booking_key)
);
-- Outages look forward: `ends_at > from` is the selective bound once history accumulates.
create index bookings_time_idx on bookings (tenant_id, ends_at);
create index bookings_key_idx on bookings (tenant_id, booking_key);

-- A declared cancellation run: an outage window (kind 'outage') or an admin's manual batch ('batch').
create table outages (
    id              integer primary key autoincrement,
    tenant_id       text    not null,
    kind            text    not null
        constraint outages_kind_check check (kind in ('outage', 'batch')),
    window_from     integer,                      -- null only for batches chosen by booking keys
    window_to       integer,
    services_json   text    not null default '[]',
    locations_json  text    not null default '[]',
    keys_json       text,                         -- batches by booking keys
    reason          text    not null,
    state           text    not null
        constraint outages_state_check check (state in ('active', 'retracted', 'closed')),
    created_at      integer not null,
    created_by      text    not null
);
create index outages_tenant_idx on outages (tenant_id, state);

-- Which bookings a run affects, and whether they still are. The call list and reach come from here.
create table targets (
    id              integer primary key autoincrement,
    tenant_id       text    not null,
    outage_id       integer not null references outages (id),
    booking_id      integer not null references bookings (id),
    state           text    not null
        constraint targets_state_check check (state in ('affected', 'withdrawn')),
    booking_revision integer not null,
    matched_at      integer not null,
    called_at       integer,
    constraint targets_unique unique (outage_id, booking_id)
);
create index targets_booking_idx on targets (booking_id);

-- The outbox: one message to one recipient on one channel.
create table notifications (
    id              integer primary key autoincrement,
    tenant_id       text    not null,
    outage_id       integer not null references outages (id),
    booking_id      integer not null references bookings (id),
    channel         text    not null
        constraint notifications_channel_check check (channel in ('email', 'sms')),
    kind            text    not null,            -- 'cancellation' (more kinds come with amend/retract)
    role            text    not null
        constraint notifications_role_check check (role in ('primary', 'fallback')),
    recipient       text    not null,            -- email address or E.164 number
    language        text    not null,
    subject         text,
    body_text       text    not null,
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
    constraint notifications_once unique (outage_id, booking_id, channel, kind)
);
-- Hot paths: claiming (earliest deadline first), expiry and the idle wake-up only look at open
-- notifications; the partial indexes stay small however long the history grows.
create index notifications_claim_idx on notifications (channel, deadline, id)
    where state in ('queued', 'sending');
create index notifications_next_idx on notifications (channel, next_attempt_at)
    where state = 'queued';
create index notifications_booking_idx on notifications (booking_id, outage_id);

-- Health of each relay and gateway, so that every process (and `absage status`) sees it.
create table destinations (
    name            text    primary key,
    channel         text    not null,
    state           text    not null
        constraint destinations_state_check check (state in ('up', 'down')),
    consecutive_failures integer not null default 0,
    last_error      text,
    down_since      integer,
    next_probe_at   integer,
    updated_at      integer not null
);
