DROP TABLE git_heads;
DROP TABLE scratch_dbs;
DROP TABLE leases;
DROP TABLE limits;
