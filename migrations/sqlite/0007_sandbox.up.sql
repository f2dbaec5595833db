BEGIN;
-- The limits of a workspace's cell sandboxes (engine/sandbox), set by its
-- owners; a workspace without a row has the defaults. 0 means no limit.
-- host_loopback lets its cells reach the server's own loopback (10.0.2.2),
-- which the sandbox refuses otherwise.
CREATE TABLE sandbox_settings (
    workspace_id  TEXT PRIMARY KEY REFERENCES workspaces (id) ON DELETE CASCADE,
    max_procs     INTEGER NOT NULL,
    max_files     INTEGER NOT NULL,
    max_file_size INTEGER NOT NULL,
    max_memory    INTEGER NOT NULL,
    host_loopback BOOLEAN NOT NULL DEFAULT FALSE,
    updated_at    TIMESTAMP NOT NULL,
    updated_by    TEXT REFERENCES users (id) ON DELETE SET NULL
);
COMMIT;
