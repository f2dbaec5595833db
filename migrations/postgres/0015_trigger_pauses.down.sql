DROP TABLE trigger_pauses;
