-- What came back to the emails' return paths (bounces, complaints, auto-replies, and what
-- nobody could read), and the addresses a tenant no longer mails because they hard-bounced or
-- complained. `raw` is kept only where a person must read the message (unrecognised, forged,
-- not addressed to a return path); retention deletes the rows with the notifications.
create table returned_mail (
    id bigserial primary key,
    received_at bigint not null,
    via text not null,
    notification_id bigint,
    tenant_id text,
    kind text not null,
    status text,
    diagnostic text,
    reason text,
    size bigint not null,
    raw bytea
);
create index returned_mail_notification on returned_mail (notification_id);
create index returned_mail_received on returned_mail (received_at);

create table suppressed_addresses (
    tenant_id text not null,
    address text not null,
    kind text not null,
    reason text not null,
    since bigint not null,
    notification_id bigint,
    primary key (tenant_id, address)
);
