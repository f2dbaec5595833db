BEGIN;
-- An invited user signs in first with a password an owner was shown: they
-- must choose their own before anything else (cleared by a password change).
ALTER TABLE users ADD COLUMN must_change_password BOOLEAN NOT NULL DEFAULT FALSE;
COMMIT;
