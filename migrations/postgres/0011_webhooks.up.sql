-- Webhook tokens: each starts runs of one flow with POST /hooks/{token}
-- while the flow's version declares triggers: [{webhook: true}]. Only the
-- sha256 hex of the token is kept.
CREATE TABLE hooks (
    id           TEXT PRIMARY KEY,
    workspace_id TEXT NOT NULL REFERENCES workspaces (id) ON DELETE CASCADE,
    flow_id      TEXT NOT NULL REFERENCES flows (id) ON DELETE CASCADE,
    name         TEXT NOT NULL DEFAULT '',
    hash         TEXT NOT NULL UNIQUE,
    created_by   TEXT REFERENCES users (id) ON DELETE SET NULL,
    created_at   TIMESTAMPTZ NOT NULL,
    last_used_at TIMESTAMPTZ,
    revoked_at   TIMESTAMPTZ
);
CREATE INDEX hooks_flow ON hooks (flow_id, created_at DESC);

-- A draft's flow-level settings that have no column of their own, as JSON
-- ({"network": false, "concurrency": {"limit": 1, "overlap": "skip"}}): without
-- them a version saved from the draft would lose `network: false` and
-- `concurrency:` of the version it came from.
ALTER TABLE flows ADD COLUMN settings TEXT NOT NULL DEFAULT '{}';
