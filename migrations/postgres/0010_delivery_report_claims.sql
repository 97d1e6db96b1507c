-- How often each notification was claimed for sending. The delivery-report URL handed out with
-- a send carries (and signs) this number, so a report for an earlier send of the same
-- notification (one the gateway refused, say) is told from one for the current send.
alter table notifications add column claims integer not null default 0;
