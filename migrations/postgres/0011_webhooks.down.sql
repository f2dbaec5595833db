ALTER TABLE flows DROP COLUMN settings;
DROP TABLE hooks;
