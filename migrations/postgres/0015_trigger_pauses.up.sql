-- Paused triggers: a studio setting, not part of the flow's files. A
-- trigger is named by its key (engine.Trigger.Key: "cron SPEC ZONE" or
-- "webhook"), so a pause survives the triggers being reordered and ends
-- when the schedule itself is changed.
CREATE TABLE trigger_pauses (
    flow_id     TEXT NOT NULL REFERENCES flows (id) ON DELETE CASCADE,
    trigger_key TEXT NOT NULL,
    paused_by   TEXT REFERENCES users (id) ON DELETE SET NULL,
    paused_at   TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (flow_id, trigger_key)
);
