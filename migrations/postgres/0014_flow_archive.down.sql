ALTER TABLE flows DROP COLUMN archived_at;
