-- Each transition keeps its rule's annotations formatted for it (every language the rule file
-- gives, e.g. summary and summary_zh) and the name of its station, district or region, so
-- the notifier's templates can use them (sinks/templates.py).
ALTER TABLE alert_events ADD COLUMN annotations jsonb NOT NULL DEFAULT '{}';
