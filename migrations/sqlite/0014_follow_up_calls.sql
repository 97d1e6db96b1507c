-- A second call to a citizen who was phoned about a cancellation that then no longer applied
-- (the outage was retracted, or amended so that it left their booking): "your appointment
-- takes place after all". Kept apart from `calls`, whose first call per booking counts.
create table follow_up_calls (
    outage_id       integer  not null references outages (id),
    booking_id      integer  not null references bookings (id),
    called_by       text    not null,
    called_at       integer  not null,
    primary key (outage_id, booking_id)
);
