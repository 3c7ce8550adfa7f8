-- Platform-wide tables: dead letters, alert transitions (an outbox for notifiers), sink metrics.

CREATE TABLE dead_letters (
    received_at  timestamptz NOT NULL,
    stage        text        NOT NULL,   -- ingest (bridge) or the processor that refused it
    reason       text        NOT NULL,   -- "reading [i]: …" for one reading of an array
    source       text        NOT NULL,   -- MQTT or Kafka topic it came from
    payload      bytea       NOT NULL,   -- the original bytes
    payload_sha  text        NOT NULL,
    stored_at    timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (received_at, source, payload_sha, reason)  -- a reading of an array: its index is in the reason
);

CREATE TABLE alert_events (
    at           timestamptz NOT NULL,   -- event time of the transition
    rule         text        NOT NULL,
    site         text        NOT NULL,
    state        text        NOT NULL CHECK (state IN ('pending', 'firing', 'resolved', 'cancelled')),
    value        double precision,
    threshold    double precision NOT NULL,
    severity     text        NOT NULL,
    summary      text        NOT NULL,
    notify       boolean     NOT NULL,
    stored_at    timestamptz NOT NULL DEFAULT now(),
    notified_at  timestamptz,
    notify_errors text,
    PRIMARY KEY (rule, site, state, at)
);
CREATE INDEX alert_events_unnotified ON alert_events (at) WHERE notify AND notified_at IS NULL;

CREATE TABLE pipeline_metrics (
    ts           timestamptz NOT NULL,
    component    text        NOT NULL,
    topic        text        NOT NULL,
    rows_written bigint      NOT NULL,
    consumer_lag bigint      NOT NULL,
    PRIMARY KEY (component, topic, ts)
);
