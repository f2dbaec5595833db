BEGIN;
-- An archived flow (issue 12): hidden from the flow list, refused by every
-- start path, its runs, versions and audit kept. NULL: not archived.
ALTER TABLE flows ADD COLUMN archived_at TIMESTAMP;
COMMIT;
