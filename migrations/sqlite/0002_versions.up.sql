BEGIN;
-- Versions: who edited the draft since the last version (the co-authors of
-- the next one), and finding the version a run's content hash matches.

-- One row per person who changed the draft since its last version: cell
-- sources, structure or settings. Saving a version takes and clears them.
CREATE TABLE draft_edits (
    flow_id TEXT NOT NULL REFERENCES flows (id) ON DELETE CASCADE,
    user_id TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    at      TIMESTAMP NOT NULL, -- the person's latest edit
    PRIMARY KEY (flow_id, user_id)
);

CREATE INDEX versions_flow_hash ON versions (flow_id, hash);
COMMIT;
