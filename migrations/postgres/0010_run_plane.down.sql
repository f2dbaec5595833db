DROP INDEX IF EXISTS runs_flow_unfinished;
DROP INDEX IF EXISTS runs_unfinished;
UPDATE runs SET status = 'canceled' WHERE status = 'skipped';
UPDATE runs SET status = 'failed' WHERE status = 'waiting';
UPDATE cell_runs SET status = 'canceled' WHERE status = 'waiting';
ALTER TABLE runs DROP COLUMN request;
ALTER TABLE runs DROP COLUMN conc_limit;
ALTER TABLE runs DROP COLUMN dispatched;
ALTER TABLE runs DROP COLUMN lease_until;
ALTER TABLE runs DROP COLUMN worker;
ALTER TABLE cell_runs DROP CONSTRAINT IF EXISTS cell_runs_status_check;
ALTER TABLE cell_runs ADD CONSTRAINT cell_runs_status_check
    CHECK (status IN ('pending', 'running', 'succeeded', 'failed', 'skipped', 'canceled'));
ALTER TABLE runs DROP CONSTRAINT IF EXISTS runs_status_check;
ALTER TABLE runs ADD CONSTRAINT runs_status_check
    CHECK (status IN ('queued', 'running', 'succeeded', 'failed', 'canceled'));
