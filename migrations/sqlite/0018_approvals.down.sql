BEGIN;
DROP TABLE approval_decisions;
DROP TABLE approvals;
COMMIT;
