-- Fails on purpose with this data: e-4 was loaded twice. The cell has
-- continue_on_error, so the other checks still run and the verdict
-- reports it.
create unique index dq_events_id on dq_events (id);
