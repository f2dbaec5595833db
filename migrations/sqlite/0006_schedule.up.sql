BEGIN;
-- Scheduled runs (cron triggers): one row per flow and minute that fired,
-- so that when several servers share the database exactly one of them
-- starts the run.
CREATE TABLE cron_fires (
    flow_id  TEXT NOT NULL REFERENCES flows (id) ON DELETE CASCADE,
    fire_at  TIMESTAMP NOT NULL,
    run_id   TEXT NOT NULL DEFAULT '',
    PRIMARY KEY (flow_id, fire_at)
);
COMMIT;
