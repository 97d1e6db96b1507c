-- Why the deadline planner put a booking on the call list when its outage was declared: none of
-- its messages would have left in time (the queue ahead, the rate limits, quiet hours).
alter table targets add column late_reason text;
