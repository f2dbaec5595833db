DROP INDEX runs_logs_kept;
ALTER TABLE runs DROP COLUMN logs_pruned_at;
DROP TABLE retention_settings;
