BEGIN;
DROP INDEX IF EXISTS versions_flow_hash;
DROP TABLE IF EXISTS draft_edits;
COMMIT;
