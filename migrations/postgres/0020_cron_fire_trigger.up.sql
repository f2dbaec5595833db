-- A tick is claimed per cron trigger (engine.Trigger.Key: its cron and
-- zone), not per flow: two triggers of one flow due in the same minute
-- each start their run. Claims from before have the key ''.
ALTER TABLE cron_fires ADD COLUMN trigger_key TEXT NOT NULL DEFAULT '';
ALTER TABLE cron_fires DROP CONSTRAINT cron_fires_pkey;
ALTER TABLE cron_fires ADD PRIMARY KEY (flow_id, trigger_key, fire_at);
