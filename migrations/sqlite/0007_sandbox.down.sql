BEGIN;
DROP TABLE sandbox_settings;
COMMIT;
