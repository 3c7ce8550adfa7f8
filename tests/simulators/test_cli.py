"""`fjsense simulate power` options: parsed into the scenario, or refused with a clear error."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from app.cli import build_parser
from fjsense.catalog import load_catalog
from kinds.power.simulator import PowerSimulator
from simulators.cli import span_of
from simulators.messages import SimMessage, arrays

NOW = datetime(2026, 11, 22, 9, 0, 7, tzinfo=UTC)


def scenario(*argv: str):
    args = build_parser().parse_args(["simulate", "power", *argv])
    return PowerSimulator().scenario(load_catalog(), args, NOW, span_of(args))


def test_options_make_the_scenario():
    s = scenario("--sites", "2", "--interval", "30s", "--speed", "60", "--minutes", "2",
                 "--cooling-fault", "anxi-dc1:30:40:3", "--counter-reset", "changle-dc1-m02@50")
    assert [site.id for site in s.sites] == ["changle-dc1", "anxi-dc1"]
    assert s.duration == timedelta(hours=2) and s.interval == timedelta(seconds=30)
    assert s.start == datetime(2026, 11, 22, 7, 0, 0, tzinfo=UTC)  # ends now, on the interval
    [fault] = s.cooling_faults
    assert (fault.site, fault.start - s.start, fault.end - fault.start, fault.factor) == (
        "anxi-dc1", timedelta(minutes=30), timedelta(minutes=40), 3.0)
    assert s.counter_resets[0].at - s.start == timedelta(minutes=50)
    assert scenario("--duration", "90m", "--speed", "0").duration == timedelta(minutes=90)


@pytest.mark.parametrize("argv, message", [
    (["--sites", "9"], "--sites must be between 1 and 4"),
    (["--sites", "1", "--cooling-fault", "anxi-dc1:1:2:3"], "site 'anxi-dc1' is not among"),
    (["--counter-reset", "nobody@3"], "no device 'nobody'"),
])
def test_impossible_scenarios_are_refused(argv: list[str], message: str):
    with pytest.raises(ValueError, match=message):
        scenario(*argv)


@pytest.mark.parametrize("argv", [["--cooling-fault", "anxi-dc1:30"], ["--counter-reset", "x"],
                                  ["--interval", "ten"], ["--batch", "0-5"], ["--batch", "9-3"]])
def test_malformed_options_are_usage_errors(argv: list[str], capsys: pytest.CaptureFixture[str]):
    with pytest.raises(SystemExit) as exit_:
        build_parser().parse_args(["simulate", "power", *argv])
    err = capsys.readouterr().err
    assert exit_.value.code == 2 and "error: argument --" in err and "Traceback" not in err


def test_arrays_group_each_devices_readings_and_leave_malformed_ones_alone():
    def msg(device: str, seq: int, valid: bool = True) -> SimMessage:
        return SimMessage(float(seq), f"fj/power/s/{device}", b'{"seq":%d}' % seq, device,
                          (seq,) if valid else (), valid)

    stream = [msg("a", n) for n in range(7)] + [msg("b", 0), msg("a", 99, valid=False)]
    out = list(arrays(stream, 3, 3))
    assert [(m.device, m.seqs) for m in out] == [
        ("a", (0, 1, 2)), ("a", (3, 4, 5)), ("a", ()), ("a", (6,)), ("b", (0,))]
    assert out[0].payload == b'[{"seq":0},{"seq":1},{"seq":2}]'
