-- The coast's broadcast points (sinks/broadcast.py). A broadcast is one alert_notifications
-- row per point: `target` is the point, `acked_at` when it acknowledged; `attempts` counts the
-- times it was sent (it is repeated until acknowledged or the alert resolves).
ALTER TABLE alert_notifications
    ADD COLUMN target   text,
    ADD COLUMN acked_at timestamptz;
CREATE INDEX alert_notifications_unacked ON alert_notifications (next_attempt_at)
    WHERE target IS NOT NULL AND acked_at IS NULL;

-- Each point's latest delivery state, from fj.broadcast.status (the latest replaces the one
-- before); the rule broadcast-point-silent judges the stream.
CREATE TABLE broadcast_status (
    device     text             PRIMARY KEY,  -- the point
    site       text             NOT NULL,
    district   text             NOT NULL,
    ts         timestamptz      NOT NULL,
    unacked_s  double precision NOT NULL,
    waiting    integer          NOT NULL,
    sent       integer          NOT NULL,
    acked      integer          NOT NULL,
    stored_at  timestamptz      NOT NULL DEFAULT now()
);
