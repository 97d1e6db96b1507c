-- How long a destination takes to accept one message once a connection is free (microseconds,
-- a moving average of the successful sends): with its concurrency, the rate the deadline
-- planner assumes where no rate limit is set.
alter table destinations add column send_micros bigint;
