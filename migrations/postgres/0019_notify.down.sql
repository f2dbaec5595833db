DROP INDEX runs_to_notify;
ALTER TABLE runs DROP COLUMN notified_at;
DROP TABLE notify_deliveries;
DROP TABLE notify_smtp;
DROP TABLE notify_destinations;
