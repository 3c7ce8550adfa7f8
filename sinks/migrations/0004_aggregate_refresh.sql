-- Buckets of continuous aggregates the sink wrote into and that wait for their refresh
-- (sinks/refresh.py): one row per (view, bucket), noted again (noted_at) when written again.
-- On plain PostgreSQL the aggregates are views, always current: the notes are only cleared.
CREATE TABLE aggregate_refresh (
    view        text        NOT NULL,
    bucket      timestamptz NOT NULL,
    bucket_end  timestamptz NOT NULL,
    noted_at    timestamptz NOT NULL DEFAULT clock_timestamp(),
    PRIMARY KEY (view, bucket)
);
