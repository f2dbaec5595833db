DROP TABLE hooks;
