-- What came back to the emails' return paths (bounces, complaints, auto-replies, and what
-- nobody could read), and the addresses a tenant no longer mails because they hard-bounced or
-- complained. `raw` is kept only where a person must read the message (unrecognised, forged,
-- not addressed to a return path); retention deletes the rows with the notifications.
create table returned_mail (
    id integer primary key,
    received_at integer not null,
    via text not null,
    notification_id integer,
    tenant_id text,
    kind text not null,
    status text,
    diagnostic text,
    reason text,
    size integer not null,
    raw blob
);
create index returned_mail_notification on returned_mail (notification_id);
create index returned_mail_received on returned_mail (received_at);

create table suppressed_addresses (
    tenant_id text not null,
    address text not null,
    kind text not null,
    reason text not null,
    since integer not null,
    notification_id integer,
    primary key (tenant_id, address)
);
