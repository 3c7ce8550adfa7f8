"""Kafka topics shared by more than one component (raw topics belong to each sensor kind)."""

DEADLETTER = "fj.deadletter"
PUE = "fj.derived.pue"
ALERTS = "fj.alerts"
