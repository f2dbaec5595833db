-- The run plane (issue 10): runs are jobs claimed by workers.
-- worker/lease_until: who holds a running run, and until when (heartbeated);
-- an expired lease is a lost worker. dispatched: false while a queued run
-- waits at its flow's concurrency limit (no job exists for it yet).
-- conc_limit: the flow's limit when the run started (0: none). request: what
-- the run was asked beyond its files and inputs (cells, prior results).
ALTER TABLE runs DROP CONSTRAINT IF EXISTS runs_status_check;
ALTER TABLE runs ADD CONSTRAINT runs_status_check
    CHECK (status IN ('queued', 'running', 'waiting', 'succeeded', 'failed', 'canceled', 'skipped'));
ALTER TABLE cell_runs DROP CONSTRAINT IF EXISTS cell_runs_status_check;
ALTER TABLE cell_runs ADD CONSTRAINT cell_runs_status_check
    CHECK (status IN ('pending', 'running', 'waiting', 'succeeded', 'failed', 'skipped', 'canceled'));
ALTER TABLE runs ADD COLUMN worker TEXT NOT NULL DEFAULT '';
ALTER TABLE runs ADD COLUMN lease_until TIMESTAMPTZ;
ALTER TABLE runs ADD COLUMN dispatched BOOLEAN NOT NULL DEFAULT TRUE;
ALTER TABLE runs ADD COLUMN conc_limit INTEGER NOT NULL DEFAULT 0;
ALTER TABLE runs ADD COLUMN request TEXT NOT NULL DEFAULT '{}';
CREATE INDEX runs_unfinished ON runs (status, lease_until) WHERE status IN ('queued', 'running', 'waiting');
CREATE INDEX runs_flow_unfinished ON runs (flow_id, created_at) WHERE status IN ('queued', 'running', 'waiting');
