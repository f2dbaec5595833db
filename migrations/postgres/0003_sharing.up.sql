-- Sharing (PostgreSQL): share links, workspace secrets and the audit log.

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
    created_at     TIMESTAMPTZ NOT NULL,
    expires_at     TIMESTAMPTZ NOT NULL,
    revoked_at     TIMESTAMPTZ,
    views          BIGINT NOT NULL DEFAULT 0,
    last_viewed_at TIMESTAMPTZ
);
CREATE INDEX shares_flow ON shares (flow_id, created_at DESC);
CREATE INDEX shares_run ON shares (run_id);

-- A workspace secret, sealed with AES-256-GCM (nonce and ciphertext, base64).
CREATE TABLE secrets (
    workspace_id TEXT NOT NULL REFERENCES workspaces (id) ON DELETE CASCADE,
    name         TEXT NOT NULL,
    sealed       TEXT NOT NULL,
    created_at   TIMESTAMPTZ NOT NULL,
    updated_at   TIMESTAMPTZ NOT NULL,
    updated_by   TEXT REFERENCES users (id) ON DELETE SET NULL,
    PRIMARY KEY (workspace_id, name)
);

-- The audit log: append-only. No foreign keys, so deleting a user or a
-- workspace never touches it; a trigger refuses UPDATE, DELETE and TRUNCATE.
CREATE TABLE audit_log (
    id           BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    at           TIMESTAMPTZ NOT NULL,
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

CREATE FUNCTION audit_log_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'the audit log is append-only';
END;
$$;
CREATE TRIGGER audit_log_no_change BEFORE UPDATE OR DELETE ON audit_log
    FOR EACH ROW EXECUTE FUNCTION audit_log_append_only();
CREATE TRIGGER audit_log_no_truncate BEFORE TRUNCATE ON audit_log
    FOR EACH STATEMENT EXECUTE FUNCTION audit_log_append_only();
