-- Rate limits shared by several instances: per destination, the instant (microseconds since the
-- epoch) from which its next send slot is free. An instance reserves a few slots at a time by
-- moving it forward in one statement; unused slots are not saved up, so a dead instance leaves
-- only a gap. (On SQLite one instance sends and keeps this in memory; the table is here so that
-- both backends have one schema.)
create table rate_budget (
    destination     text    primary key,
    next_free_us    bigint  not null
);
