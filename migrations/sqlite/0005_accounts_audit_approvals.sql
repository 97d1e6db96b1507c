-- The people who run absage through the admin API and web UI. Every account belongs to one tenant
-- and sees only that tenant's outages, bookings and messages.
create table accounts (
    id              integer primary key autoincrement,
    name            text    not null unique,
    tenant_id       text    not null,
    role            text    not null
        constraint accounts_role_check check (role in ('viewer', 'operator', 'approver')),
    password_hash   text,                        -- argon2id (PHC string); null: tokens only
    created_at      integer not null
);

-- API tokens, stored as SHA-256 of the token (the token itself is shown once).
create table api_tokens (
    id              integer primary key autoincrement,
    account_id      integer not null references accounts (id) on delete cascade,
    token_hash      text    not null unique,
    created_at      integer not null,
    last_used_at    integer
);

-- Who did what, when, and with what impact. Append-only: the application never changes a row,
-- and the triggers refuse it to anyone who tries.
create table audit_log (
    id              integer primary key autoincrement,
    at              integer not null,
    tenant_id       text,
    actor           text    not null,
    action          text    not null,
    subject         text,
    details_json    text    not null default '{}'
);
create index audit_log_tenant_idx on audit_log (tenant_id, id);
create trigger audit_log_append_only_update before update on audit_log
begin
    select raise(abort, 'the audit log is append-only');
end;
create trigger audit_log_append_only_delete before delete on audit_log
begin
    select raise(abort, 'the audit log is append-only');
end;

-- Declarations waiting for the four-eyes rule: above a tenant's approval_threshold, a declaration
-- is kept here until a different approver approves it; only then is the run declared.
create table approvals (
    id              integer primary key autoincrement,
    tenant_id       text    not null,
    kind            text    not null
        constraint approvals_kind_check check (kind in ('outage', 'batch')),
    request_json    text    not null,
    affected        integer not null,
    reason          text    not null,
    requested_by    text    not null,
    requested_at    integer not null,
    state           text    not null
        constraint approvals_state_check check (state in ('pending', 'approved', 'rejected')),
    decided_by      text,
    decided_at      integer,
    outage_id       integer references outages (id)
);
create index approvals_tenant_idx on approvals (tenant_id, state);

-- SMS delivery reports from the gateway (delivered, undelivered, buffered, submitted, rejected).
alter table notifications add column delivery_state text;
alter table notifications add column delivery_at integer;

-- Alerts that declared an outage (Alertmanager resends a firing alert; it declares once).
create table alert_runs (
    alert_key       text    primary key,         -- rule, fingerprint and start of the alert
    tenant_id       text    not null,
    received_at     integer  not null
);

-- Web UI sessions: the cookie holds a random token, the table its SHA-256.
create table sessions (
    token_hash      text    primary key,
    account_id      integer  not null references accounts (id) on delete cascade,
    csrf            text    not null,
    created_at      integer  not null,
    expires_at      integer  not null
);

-- Citizens on a call list whom staff have phoned (who and when).
create table calls (
    outage_id       integer  not null references outages (id),
    booking_id      integer  not null references bookings (id),
    called_by       text    not null,
    called_at       integer  not null,
    primary key (outage_id, booking_id)
);
