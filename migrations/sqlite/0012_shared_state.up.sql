BEGIN;
-- State that several processes on one database share (issue 10): rate
-- limits, leases, each workspace's scratch database, and the git head
-- last seen by whichever replica synced.

-- limits: a token bucket per key (value = tokens left, at_us = the last
-- refill) or a failure count (value = failures, at_us = the last one),
-- in microseconds since 1970 so both databases do the arithmetic alike.
-- A row is pruned once expires_us has passed: by then it says nothing a
-- missing row would not.
CREATE TABLE limits (
    key        TEXT PRIMARY KEY,
    value      REAL NOT NULL,
    at_us      INTEGER NOT NULL,
    expires_us INTEGER NOT NULL
);
CREATE INDEX limits_expires ON limits (expires_us);

-- leases: one holder of a named thing at a time (a workspace's git sync,
-- its scratch database) until expires_at, which the holder keeps moving
-- while it works; a crashed holder's lease simply expires.
CREATE TABLE leases (
    name       TEXT PRIMARY KEY,
    holder     TEXT NOT NULL,
    expires_at TIMESTAMP NOT NULL
);

-- scratch_dbs: each workspace's scratch SQLite file, for workers on
-- several machines. generation counts uploads; workers keep a copy and
-- fetch data only when the generation moved.
CREATE TABLE scratch_dbs (
    workspace_id TEXT PRIMARY KEY REFERENCES workspaces (id) ON DELETE CASCADE,
    generation   INTEGER NOT NULL,
    size         INTEGER NOT NULL,
    sha256       TEXT NOT NULL,
    data         BLOB NOT NULL,
    updated_at   TIMESTAMP NOT NULL
);

-- git_heads: the remote branch's commit as the last replica to push,
-- pull or fetch saw it, so that another replica knows its clone is behind.
CREATE TABLE git_heads (
    workspace_id TEXT PRIMARY KEY REFERENCES workspaces (id) ON DELETE CASCADE,
    remote       TEXT NOT NULL,
    branch       TEXT NOT NULL,
    git_commit   TEXT NOT NULL,
    updated_at   TIMESTAMP NOT NULL
);
COMMIT;
