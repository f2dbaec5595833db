-- Approval cells (issue 14): a run that reaches one waits for people to
-- decide. One row per approval asked (a run's cell), with the rules it was
-- asked with, and one row per decision: who (a user, a holder of the
-- decision link with the address it came from, or the timeout), when,
-- what, why, and the form's values.
CREATE TABLE approvals (
    id         TEXT PRIMARY KEY,
    run_id     TEXT NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
    cell       TEXT NOT NULL,
    message    TEXT NOT NULL DEFAULT '',
    approvers  TEXT NOT NULL DEFAULT '[]',
    needed     INTEGER NOT NULL DEFAULT 1,
    on_timeout TEXT NOT NULL DEFAULT 'reject',
    deadline   TIMESTAMPTZ,
    status     TEXT NOT NULL DEFAULT 'waiting',
    -- sha256 hex of the decision link's token; the token itself is never
    -- stored. NULL: the approval has no link.
    link_hash  TEXT UNIQUE,
    created_at TIMESTAMPTZ NOT NULL,
    decided_at TIMESTAMPTZ,
    UNIQUE (run_id, cell)
);
CREATE INDEX approvals_waiting ON approvals (status, deadline);

CREATE TABLE approval_decisions (
    approval_id TEXT NOT NULL REFERENCES approvals (id) ON DELETE CASCADE,
    seq         INTEGER NOT NULL,
    user_id     TEXT REFERENCES users (id) ON DELETE SET NULL,
    who         TEXT NOT NULL,
    ip          TEXT NOT NULL DEFAULT '',
    at          TIMESTAMPTZ NOT NULL,
    approved    BOOLEAN NOT NULL,
    comment     TEXT NOT NULL DEFAULT '',
    inputs      TEXT NOT NULL DEFAULT '{}',
    PRIMARY KEY (approval_id, seq)
);
-- A person decides once.
CREATE UNIQUE INDEX approval_decisions_user ON approval_decisions (approval_id, user_id);
