-- The four-eyes rule covers amendments, retractions and confirmed removals too, and adds up
-- what one account did alone within a time window.
alter table approvals add column action text not null default 'declare';

-- What each account did without approval: bookings a declaration affected, an amendment
-- added or took out, a retraction or confirmation took out.
create table four_eyes_ledger (
    id          integer primary key autoincrement,
    tenant_id   text    not null,
    account     text    not null,
    action      text    not null,
    bookings    integer not null,
    at          integer not null
);
create index four_eyes_ledger_idx on four_eyes_ledger (tenant_id, account, at);
