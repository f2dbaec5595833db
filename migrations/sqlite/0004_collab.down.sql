BEGIN;
DROP TABLE IF EXISTS cell_editors;
DROP TABLE IF EXISTS deleted_cells;
DROP TABLE IF EXISTS doc_changes;
ALTER TABLE draft_cells DROP COLUMN doc_version;
COMMIT;
