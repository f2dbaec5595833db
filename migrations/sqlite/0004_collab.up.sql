BEGIN;
-- Real-time collaboration (DESIGN.md, "Collaboration"). Each cell's source
-- is a document: draft_cells.source is its checkpoint at doc_version, and
-- doc_changes holds every accepted change (CodeMirror ChangeSet JSON), the
-- version it makes unique per cell, so exactly one writer wins a version.

ALTER TABLE draft_cells ADD COLUMN doc_version INTEGER NOT NULL DEFAULT 0;

CREATE TABLE doc_changes (
    flow_id   TEXT NOT NULL REFERENCES flows (id) ON DELETE CASCADE,
    cell_id   TEXT NOT NULL,
    version   INTEGER NOT NULL, -- the version this change makes (the first makes 1)
    changes   TEXT NOT NULL,
    client_id TEXT NOT NULL,
    user_id   TEXT REFERENCES users (id) ON DELETE SET NULL,
    at        TIMESTAMP NOT NULL,
    UNIQUE (cell_id, version)
);

-- Deleted cells, kept with their text so a cell someone was still editing
-- can be restored (cell.restore).
CREATE TABLE deleted_cells (
    flow_id     TEXT NOT NULL REFERENCES flows (id) ON DELETE CASCADE,
    id          TEXT NOT NULL,
    position    INTEGER NOT NULL,
    name        TEXT NOT NULL,
    kind        TEXT NOT NULL,
    source      TEXT NOT NULL DEFAULT '',
    options     TEXT NOT NULL DEFAULT '{}',
    doc_version INTEGER NOT NULL DEFAULT 0,
    deleted_at  TIMESTAMP NOT NULL,
    deleted_by  TEXT REFERENCES users (id) ON DELETE SET NULL,
    PRIMARY KEY (flow_id, id)
);

-- Who edited which cell of the draft, and when last: the co-authors of the
-- next version.
CREATE TABLE cell_editors (
    flow_id  TEXT NOT NULL REFERENCES flows (id) ON DELETE CASCADE,
    cell_id  TEXT NOT NULL,
    user_id  TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    edits    INTEGER NOT NULL DEFAULT 0,
    first_at TIMESTAMP NOT NULL,
    last_at  TIMESTAMP NOT NULL,
    PRIMARY KEY (flow_id, cell_id, user_id)
);
COMMIT;
