BEGIN;
DROP TABLE trigger_pauses;
COMMIT;
