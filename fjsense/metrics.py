"""A component's health counters as Prometheus metrics (``GET /metrics`` on its health port).

Why from the health report: ``fjsense health`` and Prometheus then show the same counters,
read at the same moment, and no component keeps a second set of books. The collector reads
``Health.snapshot()`` at each scrape and names what it finds by Prometheus's conventions
(``fjsense_`` prefix, snake case, ``_total`` for counters, the unit last):

- every component: ``fjsense_ready`` (1 while its ``/health`` answers 200);
- bridge and HJ 212 gateway (``stats``): ``fjsense_{component}_{field}_total``, e.g.
  ``fjsense_bridge_received_total``, ``fjsense_bridge_forwarded_total``,
  ``fjsense_bridge_dead_lettered_total``; ``fjsense_bridge_unacknowledged_messages``;
- worker: ``fjsense_worker_events_total``, ``fjsense_worker_partitions``,
  ``fjsense_worker_lag_records{processor, partition}``;
- sink: ``fjsense_sink_rows_stored_total{table}``, ``fjsense_sink_lag_records{topic}``;
- notify: ``fjsense_notify_deliveries_total{receiver}``,
  ``fjsense_notify_receiver_failing{receiver}``, ``fjsense_alerts_firing{severity}``;
- ``fjsense run``: ``fjsense_component_restarts_total{name}``, ``fjsense_component_ready{name}``.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector, CollectorRegistry

from fjsense.health import READY, Health

CONTENT_TYPE = CONTENT_TYPE_LATEST


def _labelled(kind: type[CounterMetricFamily | GaugeMetricFamily], name: str, doc: str,
              label: str, values: Mapping[Any, Any]) -> Metric:
    family = kind(name, doc, labels=[label])
    for key, value in sorted(values.items(), key=lambda kv: str(kv[0])):
        family.add_metric([str(key)], float(value))
    return family


def _stats(component: str, stats: Mapping[str, Any]) -> Iterator[Metric]:
    for field, value in stats.items():
        if isinstance(value, int | float) and not isinstance(value, bool):
            yield CounterMetricFamily(f"fjsense_{component}_{field}", f"{field} ({component})",
                                      value=float(value))


def _worker_lag(report: Mapping[str, Any]) -> Metric:
    family = GaugeMetricFamily("fjsense_worker_lag_records", "records of a source partition "
                               "not yet taken in, per processor", labels=["processor",
                                                                          "partition"])
    for key, positions in sorted(report.items()):
        if not key.startswith("taken:"):
            continue
        for partition, (taken, end) in sorted(positions.items(), key=lambda kv: int(kv[0])):
            if end is not None:
                start = taken + 1 if taken is not None else 0
                family.add_metric([key.removeprefix("taken:"), str(partition)],
                                  float(max(end - start, 0)))
    return family


def families(report: Mapping[str, Any]) -> Iterator[Metric]:
    """The metrics a health report holds."""
    component = report["component"]
    yield _labelled(GaugeMetricFamily, "fjsense_ready", "1 while the component is ready",
                    "component", {component: report["state"] == READY})
    if isinstance(report.get("stats"), Mapping):
        yield from _stats(component, report["stats"])
    if "unacknowledged" in report:
        yield GaugeMetricFamily(f"fjsense_{component}_unacknowledged_messages",
                                "MQTT messages received, not yet acknowledged",
                                value=float(report["unacknowledged"]))
    if component == "worker":
        yield CounterMetricFamily("fjsense_worker_events", "Kafka records taken in",
                                  value=float(report.get("events", 0)))
        yield GaugeMetricFamily("fjsense_worker_partitions", "partitions assigned",
                                value=float(len(report.get("partitions", []))))
        yield _worker_lag(report)
    if "rows_stored" in report:
        yield _labelled(CounterMetricFamily, "fjsense_sink_rows_stored", "rows stored",
                        "table", report["rows_stored"])
    if "lag" in report:
        yield _labelled(GaugeMetricFamily, "fjsense_sink_lag_records",
                        "records of a topic not yet stored", "topic", report["lag"])
    if "delivered" in report:
        yield _labelled(CounterMetricFamily, "fjsense_notify_deliveries",
                        "notifications delivered", "receiver", report["delivered"])
        yield _labelled(GaugeMetricFamily, "fjsense_notify_receiver_failing",
                        "1 while a receiver's last delivery failed", "receiver",
                        {r: 1 for r in report.get("failing", {})})
    if "firing" in report:
        yield _labelled(GaugeMetricFamily, "fjsense_alerts_firing", "alerts firing now",
                        "severity", report["firing"])
    if "components" in report:
        children = report["components"]
        yield _labelled(CounterMetricFamily, "fjsense_component_restarts",
                        "restarts by the supervisor", "name",
                        {n: c["restarts"] for n, c in children.items()})
        yield _labelled(GaugeMetricFamily, "fjsense_component_ready",
                        "1 while a supervised component is ready", "name",
                        {n: c["state"] == READY for n, c in children.items()})


class HealthCollector(Collector):
    """Reads the component's health report at each scrape."""

    def __init__(self, health: Health) -> None:
        self.health = health

    def collect(self) -> Iterator[Metric]:
        """Every metric of the report as it stands now."""
        yield from families(self.health.snapshot())


def exposition(health: Health) -> bytes:
    """The text a scrape of ``/metrics`` gets."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(HealthCollector(health))
    return generate_latest(registry)
