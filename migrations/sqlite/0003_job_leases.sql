-- Once-only jobs (scheduled imports, retention) run on one instance at a time: the instance
-- holding a job's lease runs it; a lease that ran out (its instance died) can be taken over.
create table job_leases (
    name            text    primary key,
    owner           text    not null,
    lease_until     bigint  not null
);
