-- TimescaleDB: hypertables, an hourly continuous aggregate, compression and retention.
SELECT create_hypertable('power_readings', 'ts', chunk_time_interval => INTERVAL '1 day', migrate_data => true);
SELECT create_hypertable('pue_windows', 'window_end', chunk_time_interval => INTERVAL '7 days', migrate_data => true);

-- real-time aggregation: the current, not yet materialised hour shows on dashboards too
CREATE MATERIALIZED VIEW pue_hourly WITH (timescaledb.continuous, timescaledb.materialized_only = false) AS
SELECT time_bucket('1 hour', window_end) AS bucket,
       site,
       sum(facility_kwh) AS facility_kwh,
       sum(it_kwh)       AS it_kwh,
       sum(facility_kwh) / nullif(sum(it_kwh), 0) AS pue,
       count(pue)        AS windows
FROM pue_windows
WHERE pue IS NOT NULL
GROUP BY 1, 2
WITH NO DATA;

SELECT add_continuous_aggregate_policy('pue_hourly',
    start_offset => INTERVAL '3 days', end_offset => INTERVAL '1 hour',
    schedule_interval => INTERVAL '15 minutes');

ALTER TABLE power_readings SET (timescaledb.compress, timescaledb.compress_segmentby = 'device');
SELECT add_compression_policy('power_readings', INTERVAL '7 days');
SELECT add_retention_policy('power_readings', INTERVAL '400 days');
