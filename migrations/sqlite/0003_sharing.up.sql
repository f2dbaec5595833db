BEGIN;
-- Sharing (SQLite): share links, workspace secrets and the audit log.

-- A share link: a run link (run_id set) shows one run, read-only and live;
-- a form link (run_id NULL) starts runs of a flow. Only the sha256 hex of
-- the link's token is kept.
CREATE TABLE shares (
    id             TEXT PRIMARY KEY,
    workspace_id   TEXT NOT NULL REFERENCES workspaces (id) ON DELETE CASCADE,
    flow_id        TEXT NOT NULL REFERENCES flows (id) ON DELETE CASCADE,
    run_id         TEXT REFERENCES runs (id) ON DELETE CASCADE,
    kind           TEXT NOT NULL CHECK (kind IN ('run', 'form')),
    hash           TEXT NOT NULL UNIQUE,
    show_code      BOOLEAN NOT NULL DEFAULT FALSE,
    require_signin BOOLEAN NOT NULL DEFAULT FALSE,
    runs_per_hour  INTEGER NOT NULL DEFAULT 0,
    created_by     TEXT REFERENCES users (id) ON DELETE SET NULL,
    created_at     TIMESTAMP NOT NULL,
    expires_at     TIMESTAMP NOT NULL,
    revoked_at     TIMESTAMP,
    views          INTEGER NOT NULL DEFAULT 0,
    last_viewed_at TIMESTAMP
);
CREATE INDEX shares_flow ON shares (flow_id, created_at DESC);
CREATE INDEX shares_run ON shares (run_id);

-- A workspace secret, sealed with AES-256-GCM (nonce and ciphertext, base64).
CREATE TABLE secrets (
    workspace_id TEXT NOT NULL REFERENCES workspaces (id) ON DELETE CASCADE,
    name         TEXT NOT NULL,
    sealed       TEXT NOT NULL,
    created_at   TIMESTAMP NOT NULL,
    updated_at   TIMESTAMP NOT NULL,
    updated_by   TEXT REFERENCES users (id) ON DELETE SET NULL,
    PRIMARY KEY (workspace_id, name)
);

-- The audit log: append-only. No foreign keys, so deleting a user or a
-- workspace never touches it; triggers refuse UPDATE and DELETE.
CREATE TABLE audit_log (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    at           TIMESTAMP NOT NULL,
    workspace_id TEXT NOT NULL DEFAULT '',
    actor_id     TEXT NOT NULL DEFAULT '',
    actor_name   TEXT NOT NULL DEFAULT '',
    action       TEXT NOT NULL,
    target       TEXT NOT NULL DEFAULT '',
    detail       TEXT NOT NULL DEFAULT '',
    ip           TEXT NOT NULL DEFAULT '',
    user_agent   TEXT NOT NULL DEFAULT ''
);
CREATE INDEX audit_log_workspace_at ON audit_log (workspace_id, id DESC);
CREATE INDEX audit_log_actor ON audit_log (actor_id, id DESC);

CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log
BEGIN
    SELECT RAISE(ABORT, 'the audit log is append-only');
END;
CREATE TRIGGER audit_log_no_delete BEFORE DELETE ON audit_log
BEGIN
    SELECT RAISE(ABORT, 'the audit log is append-only');
END;
COMMIT;
