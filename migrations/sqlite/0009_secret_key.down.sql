BEGIN;
DROP TABLE retired_keys;
DROP TABLE secret_rotation;
COMMIT;
