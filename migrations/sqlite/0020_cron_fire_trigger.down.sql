BEGIN;
CREATE TABLE cron_fires_old (
    flow_id  TEXT NOT NULL REFERENCES flows (id) ON DELETE CASCADE,
    fire_at  TIMESTAMP NOT NULL,
    run_id   TEXT NOT NULL DEFAULT '',
    PRIMARY KEY (flow_id, fire_at)
);
INSERT OR IGNORE INTO cron_fires_old (flow_id, fire_at, run_id) SELECT flow_id, fire_at, run_id FROM cron_fires;
DROP TABLE cron_fires;
ALTER TABLE cron_fires_old RENAME TO cron_fires;
COMMIT;
