-- Datacenter power: raw meter readings and energy-based PUE windows.

CREATE TABLE power_readings (
    ts         timestamptz      NOT NULL,
    site       text             NOT NULL,
    device     text             NOT NULL,
    seq        bigint           NOT NULL,
    circuit    text             NOT NULL,
    kw         double precision NOT NULL,
    kwh        double precision NOT NULL,
    ingest_ts  timestamptz      NOT NULL,
    stored_at  timestamptz      NOT NULL DEFAULT now(),
    PRIMARY KEY (device, seq, ts)
);
CREATE INDEX power_readings_site_ts ON power_readings (site, ts DESC);

CREATE TABLE pue_windows (
    window_end       timestamptz      NOT NULL,
    window_start     timestamptz      NOT NULL,
    site             text             NOT NULL,
    facility_kwh     double precision,
    it_kwh           double precision,
    cooling_kwh      double precision,
    pue              double precision,  -- energy-based, over the window
    pue_rolling      double precision,  -- energy-based, over the rolling span (15 min)
    instant_kw_ratio double precision,  -- facility kW / IT kW at window end: a snapshot, not PUE
    reason           text,              -- why pue is null
    rolling_reason   text,              -- why pue_rolling is null
    stored_at        timestamptz      NOT NULL DEFAULT now(),
    PRIMARY KEY (site, window_end)
);
