-- Plain PostgreSQL: hourly PUE as an ordinary view (date_bin instead of time_bucket).
CREATE VIEW pue_hourly AS
SELECT date_bin('1 hour', window_start, TIMESTAMPTZ '2000-01-01') AS bucket,
       site,
       sum(facility_kwh) AS facility_kwh,
       sum(it_kwh)       AS it_kwh,
       sum(facility_kwh) / nullif(sum(it_kwh), 0) AS pue,
       count(pue)        AS windows
FROM pue_windows
WHERE pue IS NOT NULL
GROUP BY 1, 2;
