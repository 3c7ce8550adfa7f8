"""The alert engine, pure: exact transition sequences for every rule kind, hysteresis against
flapping, for and keep_firing_for, no data on a timer, late samples within and beyond the
allowed lateness, inhibition by QC, roll-ups, catalog thresholds; and rule files refused with
the file, the line and the reason."""

from __future__ import annotations

import dataclasses
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from fjsense.catalog import load_catalog
from fjsense.rules import RuleError, explain, load_rules, parse_rules
from fjsense.settings import Settings
from fjsense.topics import AlertEvent, AlertSample
from kinds.power.kind import PUE, PueWindow
from streams.alerts import EventClock, RegionAlerts, SourceAlerts
from streams.contract import Batch
from streams.lifecycle import GroupState, Limits, observe, tick

T0 = datetime(2026, 1, 1, tzinfo=UTC).timestamp()
MIN = 60.0
CATALOG = load_catalog()


def rule(**fields: Any):
    """One rule on the PUE stream (whatever ``fields`` change), checked as a file would be."""
    body = {"name": "r", "source": PUE.topic, "metric": "pue", "at": "window_end",
            "severity": "warning", **fields}
    text = "rules:\n  - " + repr(body).replace("'", '"').replace("True", "true").replace(
        "None", "null")
    return parse_rules(text, "t.yaml", Settings(), CATALOG).rules[0]


def run(r, samples: list[tuple[float, Any]], limits: Limits, ticks: tuple[float, ...] = (),
        qc: dict[float, int] | None = None) -> list[tuple[str, float]]:
    """Feed (minute, value) samples, then ticks at the given minutes; (state, minute) out."""
    st = GroupState()
    out = []
    for minute, value in samples:
        out += observe(r, st, T0 + minute * MIN, value, limits, (qc or {}).get(minute))
    for minute in ticks:
        out += tick(r, st, T0 + minute * MIN, limits)
    return [(t.state, (t.at - T0) / MIN) for t in out]


def test_threshold_with_hysteresis_fires_once_for_a_flapping_value():
    r = rule(above=1.35, clear=1.30)
    flapping = [(0, 1.30), (1, 1.36), (2, 1.34), (3, 1.36), (4, 1.33), (5, 1.37), (6, 1.29)]
    assert run(r, flapping, Limits(above=1.35, clear=1.30)) == [
        ("firing", 1), ("resolved", 6)]


def test_for_delays_firing_and_a_drop_before_cancels():
    r = rule(above=1.35, clear=1.30, **{"for": "5m"})
    limits = Limits(above=1.35, clear=1.30)
    assert run(r, [(0, 1.4), (2, 1.4), (3, 1.2)], limits) == [("pending", 0), ("cancelled", 3)]
    assert run(r, [(0, 1.4), (4, 1.4), (5, 1.4), (8, 1.32), (9, 1.2)], limits) == [
        ("pending", 0), ("firing", 5), ("resolved", 9)]


def test_for_elapses_on_the_timer_when_no_new_sample_comes():
    r = rule(above=1.35, **{"for": "5m"})
    assert run(r, [(0, 1.4)], Limits(above=1.35), ticks=(3, 4.9, 5.0, 6)) == [
        ("pending", 0), ("firing", 5)]


def test_keep_firing_for_outlasts_a_short_clear():
    r = rule(below=2.0, clear=3.0, keep_firing_for="10m")  # e.g. dissolved oxygen, mg/L
    limits = Limits(below=2.0, clear=3.0)
    samples = [(0, 1.5), (5, 3.5), (8, 1.8), (10, 3.2), (15, 3.3), (19, 3.1), (20, 3.4)]
    assert run(r, samples, limits) == [("firing", 0), ("resolved", 20)]
    assert run(r, [(0, 1.5), (5, 3.5)], limits, ticks=(14, 15)) == [
        ("firing", 0), ("resolved", 15)]


def test_range_and_its_clear_margin():
    r = rule(kind="range", lo=6.5, hi=9.0, clear_margin=0.2)  # e.g. pH of an estuary
    samples = [(0, 8.0), (1, 9.1), (2, 8.9), (3, 8.7), (4, 6.4), (5, 6.8)]
    assert run(r, samples, Limits()) == [("firing", 1), ("resolved", 3), ("firing", 4),
                                         ("resolved", 5)]


def test_rate_of_change_per_second():
    r = rule(kind="rate", above=0.001)  # rising faster than 0.06 per minute
    samples = [(0, 1.0), (1, 1.03), (2, 1.12), (3, 1.13)]
    assert run(r, samples, Limits(above=0.001)) == [("firing", 2), ("resolved", 3)]


def test_match_a_class():
    r = rule(kind="match", values=[4, 5])
    assert run(r, [(0, 2), (1, 4), (2, 5), (3, 3)], Limits()) == [("firing", 1),
                                                                  ("resolved", 3)]


def test_no_data_fires_on_the_timer_and_resolves_when_data_comes():
    r = rule(kind="nodata", expected_seconds=60, factor=3, metric=None)
    assert run(r, [(0, 1), (1, 1)], Limits(), ticks=(3.9, 4.0, 4.5)) == [("firing", 4)]
    st = GroupState()
    observe(r, st, T0, None, Limits())
    assert [t.state for t in tick(r, st, T0 + 5 * MIN, Limits())] == ["firing"]
    assert [(t.state, t.at) for t in observe(r, st, T0 + 6 * MIN, None, Limits())] == [
        ("resolved", T0 + 6 * MIN)]


def test_a_gap_the_timer_never_saw_fires_and_resolves_in_event_time():
    """A replay (or a backlog) brings the data after a silence at once: no tick ran inside
    the gap, yet the silence fired at its start plus the silence and resolved when data came."""
    r = rule(kind="nodata", expected_seconds=60, factor=3, metric=None)
    assert run(r, [(0, 1), (1, 1), (10, 1), (11, 1), (13, 1)], Limits()) == [
        ("firing", 4), ("resolved", 10)]
    waits = rule(kind="nodata", expected_seconds=60, factor=3, metric=None, **{"for": "2m"})
    assert run(waits, [(0, 1), (4.5, 1), (10, 1)], Limits()) == [
        ("pending", 3), ("cancelled", 4.5),  # silent 1.5 min past the silence: not for 2 min
        ("pending", 7.5), ("firing", 9.5), ("resolved", 10)]


def test_late_samples_within_the_lateness_are_judged_in_order_and_older_ones_not():
    r = rule(above=1.35, clear=1.30, lateness="2m")
    limits = Limits(above=1.35, clear=1.30)
    # minute 1 arrives after minute 2, within the lateness: judged in event-time order
    assert run(r, [(0, 1.2), (2, 1.4), (1, 1.5), (4, 1.2), (6, 1.2)], limits) == [
        ("firing", 1), ("resolved", 4)]
    st = GroupState()
    for minute, value in [(0, 1.2), (5, 1.2)]:
        observe(r, st, T0 + minute * MIN, value, limits)
    assert observe(r, st, T0 + 1 * MIN, 1.9, limits) == []  # 4 minutes late: not judged
    assert st.late == 1


def test_a_group_state_dumps_every_field_and_loads_back_as_it_was():
    r = rule(kind="rate", above=1.0, lateness="1m")
    limits = Limits(above=1.0)
    st = GroupState(site="fj-dc-fuzhou-01")
    # minutes 0 to 1.5 judged (a rate keeps the previous sample), minute 3 still held
    for minute, value in [(0, 10.0), (1, 500.0), (1.5, 20.0), (3, 30.0)]:
        observe(r, st, T0 + minute * MIN, value, limits)
    st.members["fj-dc-xiamen-01"] = 1.0
    dumped = st.dump()
    assert dumped == dataclasses.asdict(st)  # every field, as a recursive copy would give
    assert dumped["buffer"] and dumped["prev"] is not None
    assert GroupState.load(json.loads(json.dumps(dumped))) == st
    # the dump shares no list or mapping with the state: the runner keeps both
    dumped["buffer"][0][1] = -1.0
    dumped["members"].clear()
    dumped["prev"][1] = -1.0
    assert GroupState.load(json.loads(json.dumps(st.dump()))) == st
    assert st.members == {"fj-dc-xiamen-01": 1.0} and st.prev is not None and st.prev[1] != -1.0
    assert all(sample[1] != -1.0 for sample in st.buffer)


def test_samples_at_the_same_instant_are_each_judged():
    # a site's two meters at minute 1, or a region's count going 1 then 2 as two stations
    # fire at once: the second sample is judged too
    r = rule(above=1.5)
    assert run(r, [(0, 0.0), (1, 1.0), (1, 2.0)], Limits(above=1.5)) == [("firing", 1)]


def test_a_value_failing_qc_is_not_judged_and_inhibits_the_next_transition():
    r = rule(above=1.35)
    limits = Limits(above=1.35)
    assert run(r, [(0, 1.2), (1, 9.9), (2, 1.2)], limits, qc={1: 4}) == []
    st = GroupState()
    out = []
    for minute, value, flag in [(0, 1.4, 1), (1, 1.0, 3), (2, 1.2, 1)]:
        out += observe(r, st, T0 + minute * MIN, value, limits, flag)
    assert [(t.state, t.inhibited) for t in out] == [("firing", None), ("resolved", None)]
    st = GroupState()
    observe(r, st, T0, 1.4, limits, 1)
    observe(r, st, T0 + MIN, 1.0, limits, 4)
    # the QC failure stands until a value passes; a timer transition meanwhile is inhibited
    r2 = rule(above=1.35, keep_firing_for="1m")
    st = GroupState()
    observe(r2, st, T0, 1.4, limits, 1)
    observe(r2, st, T0 + MIN, 1.0, limits, 1)
    observe(r2, st, T0 + 1.5 * MIN, 1.0, limits, 4)
    [resolved] = tick(r2, st, T0 + 3 * MIN, limits)
    assert (resolved.state, resolved.inhibited) == ("resolved", "QC flag 4 on the latest value")


def window(site: str, minute: int, value: float | None) -> PueWindow:
    end = datetime(2026, 1, 1, 0, minute, tzinfo=UTC)
    return PueWindow(site=site, window_start=end - timedelta(minutes=1), window_end=end,
                     facility_kwh=None, it_kwh=None, cooling_kwh=None, pue=value,
                     pue_rolling=value, instant_kw_ratio=None, reason=None, rolling_reason=None)


def test_the_shipped_pue_rule_takes_its_threshold_from_settings_and_the_catalog(
        tmp_path: Path):
    settings = Settings(pue={"target": 1.5, "resolve_below": 1.4, "alert_after_seconds": 120})
    rules = load_rules(settings, CATALOG)
    alerts = SourceAlerts(PUE.topic, rules, CATALOG, settings)
    state: dict[str, Any] = {}
    got: list[AlertEvent] = []
    for minute, value in enumerate([1.45, 1.51, 1.52, 1.53, 1.45, 1.39]):
        got += [o.value for o in alerts.step(state, Batch("changle-dc1", [
            window("changle-dc1", minute, value)], 0.0))]
    assert [(e.state, e.at.minute, e.threshold) for e in got] == [
        ("pending", 1, 1.5), ("firing", 3, 1.5), ("resolved", 5, 1.4)]
    firing = got[1]
    name = CATALOG.site("changle-dc1").name
    assert firing.summary == f"PUE (15 min) at {name} is 1.530 (target 1.5)"
    assert firing.labels == {"rule": "pue-above-target", "severity": "warning",
                             "site": "changle-dc1", "region": "fuzhou", "district": "changle",
                             "team": "datacenter"}
    assert (firing.notify, got[0].notify) == (True, False)
    # a site with its own target in the operator's catalog
    own = tmp_path / "stations.yaml"
    own.write_text("sites:\n  - {id: changle-dc1, name: Changle DC, kind: power, region: fuzhou,"
                   " lat: 25.9, lon: 119.5, it_design_kw: 1000, pue_target: 1.25, devices: []}\n")
    catalog = load_catalog(own)
    alerts = SourceAlerts(PUE.topic, load_rules(settings, catalog), catalog, settings)
    out = alerts.step({}, Batch("changle-dc1", [window("changle-dc1", 0, 1.3)], 0.0))
    assert [(o.value.state, o.value.threshold) for o in out] == [("pending", 1.25)]


def test_region_rollup_counts_its_firing_stations(tmp_path: Path):
    text = """rules:
  - {name: hot, source: fj.derived.pue, metric: pue, at: window_end, above: 1.5}
  - {name: hot-region, source: fj.alerts, kind: rollup, of: hot, group_by: region,
     min_firing: 2, annotations: {summary: "{firing} of {of} sites in {name} hot"}}
"""
    rules = parse_rules(text, "t.yaml", Settings(), CATALOG)
    settings = Settings()
    stations = SourceAlerts(PUE.topic, rules, CATALOG, settings)
    rollups = SourceAlerts("fj.alerts", rules, CATALOG, settings)
    region = RegionAlerts(rules, CATALOG, settings)
    fuzhou = [s.id for s in CATALOG.sites_of("power") if s.region == "fuzhou"]
    assert len(fuzhou) >= 2
    state: dict[str, dict] = {}
    rstate: dict[str, Any] = {}
    summaries = []
    for minute, (site, value) in enumerate([(fuzhou[0], 1.6), (fuzhou[1], 1.7),
                                            (fuzhou[0], 1.2)]):
        events = [o.value for o in stations.step(state.setdefault(site, {}), Batch(
            site, [window(site, minute, value)], 0.0))]
        samples = [o.value for o in rollups.step({}, Batch(site, events, 0.0))]
        assert all(isinstance(s, AlertSample) and s.group_key == "fuzhou" for s in samples)
        for o in region.step(rstate, Batch("fuzhou", samples, 0.0)):
            summaries.append((o.value.state, o.value.summary))
    assert summaries == [("firing", f"2 of {len(fuzhou)} sites in Fuzhou hot"),
                         ("resolved", f"1 of {len(fuzhou)} sites in Fuzhou hot")]


def test_a_cluster_is_sites_of_one_district_down_at_once():
    """The shipped cluster rule rolls site outages up by district: three sites of Pingtan
    down at once fire it; three sites down in three districts do not."""
    settings = Settings()
    rules = load_rules(settings, CATALOG)
    rollups = SourceAlerts("fj.alerts", rules, CATALOG, settings)
    areas = RegionAlerts(rules, CATALOG, settings)
    cells = CATALOG.sites_of("cell")
    pingtan = [s for s in cells if s.district == "pingtan"]
    spread = [next(s for s in cells if s.district == d) for d in ("gulou", "mawei", "minhou")]

    def outage(site, state: str, minute: int) -> AlertEvent:
        return AlertEvent(rule="site-outage", group_key=site.id, group_by="site", state=state,
                          at=datetime.fromtimestamp(T0 + minute * MIN, UTC), value=None,
                          threshold=None, severity="critical", labels={}, summary="",
                          inhibited=None, notify=True, site=site.id, region=site.region)

    states: dict[str, dict] = {}
    fired = []
    for events in ([outage(s, "firing", 2 + n) for n, s in enumerate(pingtan[:3] + spread)]
                   + [outage(pingtan[0], "resolved", 10)]):
        for sample in [o.value for o in rollups.step({}, Batch(events.site, [events], 0.0))]:
            fired += [(o.value.group_key, o.value.state, o.value.summary) for o in areas.step(
                states.setdefault(sample.group_key, {}), Batch(sample.group_key, [sample], 0.0))]
    assert fired == [
        ("pingtan", "firing", f"3 of {len(pingtan)} 5G sites in Pingtan (Comprehensive "
                              "Experimental Zone) down at once"),
        ("pingtan", "resolved", f"2 of {len(pingtan)} 5G sites in Pingtan (Comprehensive "
                                "Experimental Zone) down at once")]


def test_the_clock_moves_on_with_the_wall_only_while_the_stream_is_live():
    clock = EventClock(live_within=900)
    assert clock.watermark(1000.0) is None
    clock.saw(990.0, wall=995.0)
    assert clock.watermark(1100.0) == 990.0 + 105.0  # live: idle time counts
    replay = EventClock(live_within=900)
    replay.saw(10.0, wall=995.0)
    assert replay.watermark(5000.0) == 10.0  # a replay of the past: event time stands


@pytest.mark.parametrize(("edit", "message"), [
    ("source: fj.derived.pue", r"t.yaml:2: rules\[0\].source: no stream 'fj.nope'"),
    ("metric: pue", r"t.yaml:3: rules\[0\].metric: fj.derived.pue records have no field 'pux'"),
    ("clear: 1.3", r"t.yaml:6: rules\[0\].clear: clear \(1.5\) is above the firing threshold"),
    ("for: 5m", r"t.yaml:7: rules\[0\].for: Value error, 'five' is not a duration"),
    ("severity: warning", r"t.yaml:8: rules\[0\].severity: Input should be 'info', 'warning'"),
    ("region: fuzhou", r"t.yaml:10: rules\[0\].scope: no region 'atlantis'"),
])
def test_a_malformed_rule_file_is_refused_with_file_line_and_reason(edit: str, message: str):
    good = """rules:
  - source: fj.derived.pue
    metric: pue
    name: r
    above: 1.35
    clear: 1.3
    for: 5m
    severity: warning
    at: window_end
    scope: {region: fuzhou}
"""
    bad = {"source: fj.derived.pue": "source: fj.nope", "metric: pue": "metric: pux",
           "clear: 1.3": "clear: 1.5", "for: 5m": "for: five", "severity: warning":
           "severity: loud", "region: fuzhou": "region: atlantis"}[edit]
    parse_rules(good, "t.yaml", Settings(), CATALOG)
    with pytest.raises(RuleError, match=message):
        parse_rules(good.replace(edit, bad), "t.yaml", Settings(), CATALOG)


def test_unknown_settings_and_catalog_fields_are_refused(tmp_path: Path):
    path = tmp_path / "rules.yaml"
    path.write_text("rules:\n  - {name: r, source: fj.derived.pue, metric: pue,\n"
                    "     at: window_end, above: ${pue.nope}}\n")
    with pytest.raises(RuleError, match=r"rules.yaml:3: unknown setting \$\{pue.nope\}"):
        load_rules(Settings(alerts={"rules_file": path}), CATALOG)
    path.write_text("rules:\n  - {name: r, source: fj.derived.pue, metric: pue, at: window_end,"
                    " above: {catalog: tide_red_m}}\n")
    with pytest.raises(RuleError, match="no site in the catalog has a field 'tide_red_m'"):
        load_rules(Settings(alerts={"rules_file": path}), CATALOG)


def test_each_shipped_rule_explains_itself_in_one_line():
    clock, silent, *lines = [explain(r) for r in load_rules(Settings(), CATALOG).rules]
    assert clock == ("device-clock-skew: warning when offset_s outside [-120, 120] on "
                     "fj.device_clock, per device, for 10m; notifies firing, resolved")
    assert silent == ("broadcast-point-silent: warning when unacked_s > 600, clear past 1 on "
                      "fj.broadcast.status, per device; notifies firing, resolved")
    assert lines[:3] == [
        "pue-above-target: warning when pue_rolling > the site's pue_target (else 1.35), "
        "clear past 1.3 on fj.derived.pue, per site, for 5m; notifies firing, resolved",
        "buoy-hypoxia: warning when do_mg_l < 3, clear past 4 on fj.derived.buoy, per site, "
        "for 30m; notifies firing, resolved",
        "buoy-hypoxia-severe: critical when do_mg_l < 2, clear past 3 on fj.derived.buoy, per "
        "site, for 30m; notifies firing, resolved",
    ]
    assert len(lines) == 29 and lines[10].startswith("buoy-silent: warning when no record")
    assert lines[11] == ("tide-surge: warning when surge_m > 1, clear past 0.6 on "
                         "fj.derived.tide, per site; notifies firing, resolved")
    assert lines[14] == ("tide-high-water-yellow: yellow when warning in yellow on "
                         "fj.derived.tide_high_water, per site; notifies firing, resolved")
    assert lines[17].startswith("tide-silent: warning when no record for 30m (3 × every 10m)")
    assert lines[19] == ("site-outage: critical when no record for 30m (2 × every 15m) on "
                         "fj.raw.cell, per site; notifies firing, resolved")
    nodata = parse_rules("rules:\n  - {name: silent, source: fj.raw.power, kind: nodata, "
                         "group_by: device, expected_seconds: 10, factor: 30}\n", "t.yaml",
                         Settings(), CATALOG).rules[0]
    assert explain(nodata) == ("silent: warning when no record for 5m (30 × every 10s) on "
                               "fj.raw.power, per device; notifies firing, resolved")


def test_a_transition_the_timer_makes_for_a_silent_station_is_inhibited():
    r = rule(above=1.35, stale_after="2m", **{"for": "5m"})
    st = GroupState()
    observe(r, st, T0, 1.4, Limits(above=1.35))
    [firing] = tick(r, st, T0 + 10 * MIN, Limits(above=1.35))
    assert (firing.state, firing.at, firing.inhibited) == (
        "firing", T0 + 5 * MIN, "station silent for 300s")
    reporting = GroupState()
    for minute in range(6):
        observe(r, reporting, T0 + minute * MIN, 1.4, Limits(above=1.35))
    assert [t.inhibited for t in tick(r, reporting, T0 + 10 * MIN, Limits(above=1.35))] == []
