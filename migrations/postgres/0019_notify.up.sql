-- Notifications (engine/notify, engine/store notify.go): where a
-- workspace's runs are told of (webhook or e-mail), the SMTP server its
-- owners configured, and the outbox of deliveries, one row each, with
-- its attempts: the delivery log of a run.
CREATE TABLE notify_destinations (
    id           TEXT PRIMARY KEY,
    workspace_id TEXT NOT NULL REFERENCES workspaces (id) ON DELETE CASCADE,
    name         TEXT NOT NULL,
    kind         TEXT NOT NULL,            -- webhook | email
    secret_name  TEXT NOT NULL DEFAULT '', -- webhook: the secret holding the URL
    format       TEXT NOT NULL DEFAULT '', -- webhook: slack | generic
    recipients   TEXT NOT NULL DEFAULT '', -- email: addresses, one a line
    events       TEXT NOT NULL DEFAULT '', -- the defaults: failed,canceled,...
    created_at   TIMESTAMPTZ NOT NULL,
    UNIQUE (workspace_id, name)
);
-- One SMTP server per workspace; the password is the name of a secret.
CREATE TABLE notify_smtp (
    workspace_id    TEXT PRIMARY KEY REFERENCES workspaces (id) ON DELETE CASCADE,
    host            TEXT NOT NULL,
    port            INTEGER NOT NULL,
    username        TEXT NOT NULL DEFAULT '',
    password_secret TEXT NOT NULL DEFAULT '',
    from_addr       TEXT NOT NULL,
    tls             TEXT NOT NULL,         -- starttls | tls | none
    updated_at      TIMESTAMPTZ NOT NULL
);
CREATE TABLE notify_deliveries (
    id           TEXT PRIMARY KEY,
    run_id       TEXT NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
    workspace_id TEXT NOT NULL,
    destination  TEXT NOT NULL,            -- the destination's name when queued
    event        TEXT NOT NULL,
    cell         TEXT NOT NULL DEFAULT '', -- waiting: the approval cell
    link         TEXT NOT NULL DEFAULT '', -- waiting: the decision link, cleared once done
    status       TEXT NOT NULL,            -- pending | sent | failed
    attempts     INTEGER NOT NULL DEFAULT 0,
    last_error   TEXT NOT NULL DEFAULT '',
    next_at      TIMESTAMPTZ NOT NULL,
    created_at   TIMESTAMPTZ NOT NULL,
    updated_at   TIMESTAMPTZ NOT NULL,
    UNIQUE (run_id, destination, event, cell)
);
CREATE INDEX notify_deliveries_due ON notify_deliveries (next_at) WHERE status = 'pending';
-- When the sender queued a finished run's notifications; NULL while it
-- has not. Runs finished before notifications existed count as done.
ALTER TABLE runs ADD COLUMN notified_at TIMESTAMPTZ;
UPDATE runs SET notified_at = finished_at WHERE finished_at IS NOT NULL;
CREATE INDEX runs_to_notify ON runs (finished_at) WHERE notified_at IS NULL AND finished_at IS NOT NULL;
