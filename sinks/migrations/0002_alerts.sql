-- The alert engine: transitions of any group (device, site or region) with labels and the
-- reason a transition is inhibited; the notifier's deliveries (one row per receiver and
-- grouped message, its id the idempotency key); acknowledgements; silences.

ALTER TABLE alert_events RENAME COLUMN site TO group_key;
ALTER TABLE alert_events
    ADD COLUMN group_by  text  NOT NULL DEFAULT 'site',   -- device, site or region
    ADD COLUMN labels    jsonb NOT NULL DEFAULT '{}',
    ADD COLUMN inhibited text,                            -- why it is not notified
    ADD COLUMN site      text,
    ADD COLUMN region    text,
    ADD COLUMN claimed_at timestamptz,                    -- taken by the notifier
    ADD COLUMN silenced_by text;                          -- the silence that muted it
ALTER TABLE alert_events ALTER COLUMN threshold DROP NOT NULL;
ALTER TABLE alert_events DROP COLUMN notified_at, DROP COLUMN notify_errors;
CREATE INDEX alert_events_unclaimed ON alert_events (stored_at) WHERE notify AND claimed_at IS NULL;

CREATE TABLE alert_notifications (
    id              text        PRIMARY KEY,  -- idempotency key, sent with the message
    receiver        text        NOT NULL,
    route           text        NOT NULL,
    group_labels    jsonb       NOT NULL,     -- the labels the message groups by
    reason          text        NOT NULL,     -- 'new' (transitions) or 'repeat' (still firing)
    events          jsonb       NOT NULL,     -- the transitions it tells
    created_at      timestamptz NOT NULL DEFAULT now(),
    attempts        integer     NOT NULL DEFAULT 0,
    next_attempt_at timestamptz NOT NULL DEFAULT now(),
    last_error      text,
    delivered_at    timestamptz
);
CREATE INDEX alert_notifications_due ON alert_notifications (next_attempt_at)
    WHERE delivered_at IS NULL;

CREATE TABLE alert_acks (
    rule      text        NOT NULL,
    group_key text        NOT NULL,
    fired_at  timestamptz NOT NULL,              -- the firing transition acknowledged
    acked_by  text        NOT NULL,
    acked_at  timestamptz NOT NULL DEFAULT now(),
    comment   text,
    PRIMARY KEY (rule, group_key, fired_at)
);

CREATE TABLE alert_silences (
    id         text        PRIMARY KEY,
    matchers   jsonb       NOT NULL,              -- label = value, all must match
    starts_at  timestamptz NOT NULL,
    ends_at    timestamptz NOT NULL,
    created_by text        NOT NULL,
    comment    text,
    created_at timestamptz NOT NULL DEFAULT now(),
    CHECK (ends_at > starts_at)
);

-- the notifier hears at once that transitions were stored (and still looks every poll)
CREATE FUNCTION alert_events_stored() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('fjsense_alert_events', '');
    RETURN NULL;
END $$;
CREATE TRIGGER alert_events_stored AFTER INSERT ON alert_events
    FOR EACH STATEMENT EXECUTE FUNCTION alert_events_stored();
