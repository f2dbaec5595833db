BEGIN;
-- A tick is claimed per cron trigger (engine.Trigger.Key: its cron and
-- zone), not per flow: two triggers of one flow due in the same minute
-- each start their run. Claims from before have the key ''.
CREATE TABLE cron_fires_new (
    flow_id     TEXT NOT NULL REFERENCES flows (id) ON DELETE CASCADE,
    trigger_key TEXT NOT NULL DEFAULT '',
    fire_at     TIMESTAMP NOT NULL,
    run_id      TEXT NOT NULL DEFAULT '',
    PRIMARY KEY (flow_id, trigger_key, fire_at)
);
INSERT INTO cron_fires_new (flow_id, fire_at, run_id) SELECT flow_id, fire_at, run_id FROM cron_fires;
DROP TABLE cron_fires;
ALTER TABLE cron_fires_new RENAME TO cron_fires;
COMMIT;
