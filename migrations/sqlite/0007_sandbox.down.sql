DROP TABLE sandbox_settings;
