BEGIN;
DROP INDEX runs_rerun_of;
ALTER TABLE runs DROP COLUMN rerun_of;
COMMIT;
