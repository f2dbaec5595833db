BEGIN;
-- Secret key rotation. secret_rotation is one row that a rotation locks
-- while it re-seals, and that saving a secret locks too (shared), so the
-- two never interleave. retired_keys are the ids (fingerprints, never the
-- keys) of keys rotated out: a value sealed with one of them is refused,
-- so a server still holding an old key cannot write a value the rotation
-- missed.
CREATE TABLE secret_rotation (
    singleton   INTEGER PRIMARY KEY CHECK (singleton = 1),
    key_id      TEXT NOT NULL DEFAULT '',
    rotated_at  TIMESTAMP
);
INSERT INTO secret_rotation (singleton, key_id) VALUES (1, '');
CREATE TABLE retired_keys (
    key_id      TEXT PRIMARY KEY,
    retired_at  TIMESTAMP NOT NULL
);
COMMIT;
