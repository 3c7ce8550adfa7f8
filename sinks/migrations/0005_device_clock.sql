-- Each device's clock as the bridge estimates it (ingest/clocks.py): the latest estimate per
-- device replaces the one before. offset_s is the device's clock minus true time (positive:
-- it runs ahead), from `samples` messages of the window.
CREATE TABLE device_clock (
    device      text             PRIMARY KEY,
    kind        text             NOT NULL,
    site        text             NOT NULL,
    offset_s    double precision NOT NULL,
    samples     integer          NOT NULL,
    updated_at  timestamptz      NOT NULL,
    stored_at   timestamptz      NOT NULL DEFAULT now()
);
