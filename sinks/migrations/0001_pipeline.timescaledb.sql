SELECT create_hypertable('dead_letters', 'received_at', migrate_data => true);
SELECT create_hypertable('alert_events', 'at', migrate_data => true);
SELECT create_hypertable('pipeline_metrics', 'ts', migrate_data => true);
SELECT add_retention_policy('pipeline_metrics', INTERVAL '30 days');
