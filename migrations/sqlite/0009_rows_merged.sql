-- Rows of a key already read in the same export, for the same citizen and time: one
-- appointment listed once per service. They join that booking's services.
alter table imports add column rows_merged integer not null default 0;
