DROP TABLE cron_fires;
