BEGIN;
-- Opsbook's first schema (SQLite). Times are written by bun as UTC text
-- ('2006-01-02 15:04:05.999999+00:00'), which sorts in time order. JSON
-- columns hold text. Ids are prefixed random strings made in Go.

CREATE TABLE users (
    id            TEXT PRIMARY KEY,
    name          TEXT NOT NULL UNIQUE,
    display_name  TEXT NOT NULL DEFAULT '',
    password_hash TEXT NOT NULL DEFAULT '',
    created_at    TIMESTAMP NOT NULL
);

CREATE TABLE sessions (
    id           TEXT PRIMARY KEY, -- sha256 hex of the cookie token
    user_id      TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at   TIMESTAMP NOT NULL,
    expires_at   TIMESTAMP NOT NULL,
    last_seen_at TIMESTAMP NOT NULL
);
CREATE INDEX sessions_user_id ON sessions (user_id);

CREATE TABLE workspaces (
    id         TEXT PRIMARY KEY,
    slug       TEXT NOT NULL UNIQUE,
    name       TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL
);

CREATE TABLE members (
    workspace_id TEXT NOT NULL REFERENCES workspaces (id) ON DELETE CASCADE,
    user_id      TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    role         TEXT NOT NULL CHECK (role IN ('owner', 'editor', 'runner', 'viewer')),
    created_at   TIMESTAMP NOT NULL,
    PRIMARY KEY (workspace_id, user_id)
);
CREATE INDEX members_user_id ON members (user_id);

CREATE TABLE api_tokens (
    id           TEXT PRIMARY KEY,
    user_id      TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    workspace_id TEXT NOT NULL REFERENCES workspaces (id) ON DELETE CASCADE,
    name         TEXT NOT NULL DEFAULT '',
    hash         TEXT NOT NULL UNIQUE, -- sha256 hex of the token
    role         TEXT NOT NULL CHECK (role IN ('owner', 'editor', 'runner', 'viewer')),
    created_at   TIMESTAMP NOT NULL,
    last_used_at TIMESTAMP,
    revoked_at   TIMESTAMP
);
CREATE INDEX api_tokens_user_id ON api_tokens (user_id);

CREATE TABLE flows (
    id                TEXT PRIMARY KEY,
    workspace_id      TEXT NOT NULL REFERENCES workspaces (id) ON DELETE CASCADE,
    slug              TEXT NOT NULL,
    name              TEXT NOT NULL DEFAULT '',
    description       TEXT NOT NULL DEFAULT '',
    "order"           TEXT NOT NULL DEFAULT '',
    inputs            TEXT NOT NULL DEFAULT '[]',
    triggers          TEXT NOT NULL DEFAULT '[]',
    published_version INTEGER,
    created_at        TIMESTAMP NOT NULL,
    updated_at        TIMESTAMP NOT NULL,
    UNIQUE (workspace_id, slug)
);

-- The live draft: one row a cell, so an autosave of one source is one UPDATE.
CREATE TABLE draft_cells (
    flow_id    TEXT NOT NULL REFERENCES flows (id) ON DELETE CASCADE,
    id         TEXT NOT NULL,
    position   INTEGER NOT NULL,
    name       TEXT NOT NULL,
    kind       TEXT NOT NULL,
    source     TEXT NOT NULL DEFAULT '',
    options    TEXT NOT NULL DEFAULT '{}',
    updated_at TIMESTAMP NOT NULL,
    updated_by TEXT REFERENCES users (id) ON DELETE SET NULL,
    PRIMARY KEY (flow_id, id),
    UNIQUE (flow_id, name)
);
CREATE INDEX draft_cells_flow_position ON draft_cells (flow_id, position);

CREATE TABLE versions (
    flow_id    TEXT NOT NULL REFERENCES flows (id) ON DELETE CASCADE,
    number     INTEGER NOT NULL,
    message    TEXT NOT NULL DEFAULT '',
    author     TEXT REFERENCES users (id) ON DELETE SET NULL,
    coauthors  TEXT NOT NULL DEFAULT '[]',
    hash       TEXT NOT NULL,
    files      TEXT NOT NULL, -- [{"name": …, "data": …}, …] in export order
    created_at TIMESTAMP NOT NULL,
    PRIMARY KEY (flow_id, number)
);

CREATE TABLE runs (
    id           TEXT PRIMARY KEY,
    workspace_id TEXT NOT NULL REFERENCES workspaces (id) ON DELETE CASCADE,
    flow_id      TEXT NOT NULL REFERENCES flows (id) ON DELETE CASCADE,
    version      INTEGER NOT NULL DEFAULT 0, -- 0: the draft, pinned by hash
    hash         TEXT NOT NULL DEFAULT '',
    status       TEXT NOT NULL CHECK (status IN ('queued', 'running', 'succeeded', 'failed', 'canceled')),
    inputs       TEXT NOT NULL DEFAULT '{}',
    files        TEXT NOT NULL DEFAULT '[]',
    started_by   TEXT REFERENCES users (id) ON DELETE SET NULL,
    created_at   TIMESTAMP NOT NULL,
    started_at   TIMESTAMP,
    finished_at  TIMESTAMP,
    duration_ms  INTEGER NOT NULL DEFAULT 0,
    error        TEXT NOT NULL DEFAULT ''
);
CREATE INDEX runs_flow_created ON runs (flow_id, created_at DESC, id DESC);
CREATE INDEX runs_workspace_created ON runs (workspace_id, created_at DESC, id DESC);

CREATE TABLE cell_runs (
    run_id      TEXT NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
    position    INTEGER NOT NULL,
    name        TEXT NOT NULL,
    kind        TEXT NOT NULL DEFAULT '',
    status      TEXT NOT NULL CHECK (status IN ('pending', 'running', 'succeeded', 'failed', 'skipped', 'canceled')),
    attempts    INTEGER NOT NULL DEFAULT 0,
    started_at  TIMESTAMP,
    finished_at TIMESTAMP,
    duration_ms INTEGER NOT NULL DEFAULT 0,
    result      TEXT,
    log_bytes   INTEGER NOT NULL DEFAULT 0,
    log_cut     BOOLEAN NOT NULL DEFAULT FALSE,
    PRIMARY KEY (run_id, name)
);

-- The log of a run: every event line, as sent to viewers. The primary key
-- is the (run_id, seq) index that `since=N` reads.
CREATE TABLE run_events (
    run_id TEXT NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
    seq    INTEGER NOT NULL,
    type   TEXT NOT NULL,
    cell   TEXT NOT NULL DEFAULT '',
    data   TEXT NOT NULL,
    PRIMARY KEY (run_id, seq)
);
COMMIT;
