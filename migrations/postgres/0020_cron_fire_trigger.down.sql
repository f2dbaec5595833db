DELETE FROM cron_fires a USING cron_fires b
    WHERE a.flow_id = b.flow_id AND a.fire_at = b.fire_at AND a.trigger_key > b.trigger_key;
ALTER TABLE cron_fires DROP CONSTRAINT cron_fires_pkey;
ALTER TABLE cron_fires DROP COLUMN trigger_key;
ALTER TABLE cron_fires ADD PRIMARY KEY (flow_id, fire_at);
