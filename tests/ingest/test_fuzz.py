"""Fuzzing the real pipeline: hypothesis makes over 10,000 bad payloads, mixed with good
readings, on the topics of every kind of the registry (the built-in ones and the test
thermometer plugin), published by the devices themselves through Mosquitto into the bridge,
worker and sink under `fjsense run`.

Every bad payload (or bad reading of an array) must be in ``dead_letters`` with a reason that
says what was wrong; every good reading must be stored once; no component may restart.

Payloads the broker itself refuses never reach the bridge: a device publishing on another
device's topic, or an unknown device (no login), are proven refused in ``test_bridge.py``;
here the same lies are told inside the payload (a ``device`` field naming someone else).
"""

from __future__ import annotations

import itertools
import json
import re
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
import psycopg
import pytest
from hypothesis import HealthCheck, Phase, given
from hypothesis import settings as hsettings
from hypothesis import strategies as st
from psycopg import sql

from app.processes import Components, all_components, wait_for
from fjsense.catalog import Catalog, catalog_of
from fjsense.credentials import Credentials
from fjsense.registry import registry
from fjsense.settings import Settings
from fjsense.stack import LocalStack
from kinds.pollution.gateway import reading_of
from kinds.pollution.hj212 import parse
from simulators.cli import simulator_of
from simulators.messages import SimMessage
from sinks.migrate import bootstrap

pytestmark = pytest.mark.integration

HERE = Path(__file__).parent
EXAMPLES, PER_EXAMPLE = 24, 500
NOT_JSON = r"^payload is not UTF-8 JSON"
SCHEMA = r"^schema: "
TOTALS = {"bad": 0, "good": 0}


@dataclass(frozen=True)
class Template:
    """A valid reading of one device, and where it publishes."""

    kind: str
    table: str
    topic: str
    body: dict[str, Any]
    fields: tuple[str, ...]  # the kind's own fields (not device, seq, ts)
    impostor: str  # another device of the catalog


@dataclass
class Pipeline:
    settings: Settings
    parts: Components
    conn: psycopg.Connection
    templates: list[Template]
    clients: dict[str, mqtt.Client] = field(default_factory=dict)
    seqs: Iterator[int] = field(default_factory=lambda: itertools.count(10_000_000))


def gatewayed(message: SimMessage, catalog: Catalog) -> SimMessage:
    """An HJ 212 packet as the gateway publishes it over MQTT (what the bridge sees)."""
    if message.via is None or not message.payload:
        return message
    reading = reading_of(parse(message.payload))
    site = catalog.device(message.device)[0].id  # type: ignore[index]
    return SimMessage(message.at, f"fj/pollution/{site}/{message.device}",
                      json.dumps(reading).encode(), message.device, (reading["seq"],))


@pytest.fixture(scope="module")
def pipeline(module_settings: Settings, tmp_path_factory: pytest.TempPathFactory
             ) -> Iterator[Pipeline]:
    settings = Settings(**{**module_settings.model_dump(), "plugins": ["tests.thermometer.kind"],
                           "catalog": {"file": HERE.parent / "thermometer" / "catalog.yaml"}})
    bootstrap(settings)
    LocalStack(settings).refresh_mqtt_auth()
    catalog = catalog_of(settings)
    now = datetime.now(UTC)
    templates = []
    kinds = registry(settings.plugins)
    seen: dict[str, set[str]] = {name: set() for name in kinds}
    for kind in kinds.values():  # a simulator may send more kinds than its own (cells: MRs)
        if kind.simulator is None:
            continue
        for message in (gatewayed(m, catalog) for m in simulator_of(kind).demo(
                settings, catalog, now, timedelta(minutes=5))):
            sent = kinds[message.topic.split("/")[1]]
            if message.device in seen[sent.name] or len(seen[sent.name]) == 2 \
                    or not message.valid:
                continue
            seen[sent.name].add(message.device)
            others = [d.id for _, d in catalog.devices() if d.id != message.device]
            templates.append(Template(
                sent.name, sent.table.name, message.topic, json.loads(message.payload),
                tuple(f for f in sent.reading.model_fields if f not in ("device", "seq", "ts")),
                others[len(templates) % len(others)]))
            if all(len(seen[k]) >= 2 for k in kinds if kinds[k].sent_by(kind.name)
                   or k == kind.name):
                break
    assert all(len(found) == 2 for found in seen.values()), f"kinds to fuzz from: {seen}"
    parts = Components(settings, tmp_path_factory.mktemp("fuzz-logs"))
    parts.start("run")
    conn = psycopg.connect(Credentials(settings).dsn("admin"), autocommit=True)
    found = Pipeline(settings, parts, conn, templates)
    try:
        parts.wait_ready("run", timeout=90)
        yield found
    finally:
        for client in found.clients.values():
            client.disconnect()
            client.loop_stop()
        codes = parts.stop_all()
        conn.close()
    assert codes == {"run": 0}


# ---- what hypothesis draws: a spec per message, built into bytes when published ----------

WRONG_VALUES = st.sampled_from(["text", [], {}, True, None, [1, 2], {"v": 1}])
ITEM_FAULTS = ("wrong_type", "nan", "huge", "unknown_field", "future", "impostor")
MESSAGE_FAULTS = ITEM_FAULTS + ("truncated", "deep", "oversize", "invalid_utf8", "binary",
                                "not_object", "empty_array", "mixed_array")


@st.composite
def fault(draw: st.DrawFn, name: str) -> dict[str, Any]:
    """The parameters of one fault."""
    params: dict[str, Any] = {"fault": name}
    if name == "wrong_type":
        params["field"] = draw(st.sampled_from(["seq", "ts", "*"]))
        params["value"] = draw(WRONG_VALUES)
    elif name == "nan":
        params["literal"] = draw(st.sampled_from(["NaN", "Infinity", "-Infinity"]))
    elif name == "huge":
        params["seq"] = draw(st.sampled_from([2**63, 10**30, -(2**70)]))
        params["number"] = draw(st.sampled_from(["1e400", "-1e400", str(10**400)]))
    elif name == "unknown_field":
        params["name"] = draw(st.text("abcdefghijklmnopqrstuvwxyz_", min_size=1, max_size=12))
        params["value"] = draw(st.one_of(st.integers(), st.text(max_size=20), st.booleans()))
    elif name == "future":
        params["seconds"] = draw(st.integers(min_value=400, max_value=100 * 365 * 86400))
    elif name == "truncated":
        params["fraction"] = draw(st.floats(min_value=0.0, max_value=0.999))
    elif name == "deep":
        params["depth"] = draw(st.integers(min_value=200, max_value=40_000))  # under 256 KiB
        params["shape"] = draw(st.sampled_from(["[", '{"a":']))
    elif name == "oversize":
        params["size"] = draw(st.integers(min_value=262_145, max_value=1_100_000))
    elif name == "binary":
        params["bytes"] = draw(st.binary(min_size=1, max_size=300).filter(_not_json))
    elif name == "not_object":
        params["payload"] = draw(st.sampled_from([b"42", b'"x"', b"null", b"true", b"-1.5"]))
    elif name == "mixed_array":
        params["items"] = draw(st.lists(
            st.one_of(st.just({"fault": "good"}), st.sampled_from(ITEM_FAULTS).flatmap(fault)),
            min_size=2, max_size=12).filter(lambda xs: any(x["fault"] != "good" for x in xs)))
    return params


def _not_json(data: bytes) -> bool:
    try:
        json.loads(data)
    except ValueError:
        return True
    return False


def message_specs() -> st.SearchStrategy[dict[str, Any]]:
    """Nine in ten messages are bad; the rest are good single readings or good arrays."""
    common = [f for f in MESSAGE_FAULTS if f != "oversize"]
    faults = st.sampled_from(common * 10 + ["oversize"]).flatmap(fault)  # 1 MB ones: rarer
    good = st.integers(min_value=1, max_value=8).map(lambda n: {"fault": "good", "n": n})
    return st.tuples(st.integers(min_value=0, max_value=99),
                     st.one_of(*[faults] * 9, good)).map(lambda t: {**t[1], "device": t[0]})


# ---- building bytes, and what each message must become ----------------------------------

@dataclass
class Built:
    topic: str
    payload: bytes
    good: list[tuple[str, int]] = field(default_factory=list)  # (device, seq) to be stored
    letters: list[str] = field(default_factory=list)  # a reason pattern per dead letter


def reading(pipe: Pipeline, t: Template) -> dict[str, Any]:
    body = dict(t.body, seq=next(pipe.seqs), ts=datetime.now(UTC).isoformat())
    return body


def numeric(body: dict[str, Any]) -> tuple[str, str, Any]:
    """(key, location as pydantic says it, value) of the reading's first number: one of its
    own fields, or of the first item of a list or mapping it holds (an MR batch's first
    sample, a pollution packet's first factor)."""
    for key, value in body.items():
        if key not in ("seq",) and isinstance(value, float | int) and not isinstance(value, bool):
            return key, key, value
    for key, value in body.items():
        if isinstance(value, list) and value and isinstance(value[0], dict):
            inner, where, number = numeric(value[0])
            return inner, f"{key}.0.{where}", number
        if isinstance(value, dict) and value:  # a mapping: a packet's factors
            first = next(iter(value))
            if isinstance(value[first], dict):
                inner, where, number = numeric(value[first])
                return inner, f"{key}.{first}.{where}", number
    raise AssertionError(f"no number in {body}")


def bad_reading(pipe: Pipeline, t: Template, spec: dict[str, Any]) -> tuple[bytes, str]:
    """One bad reading's JSON and the pattern its dead letter's reason must match."""
    body = reading(pipe, t)
    name = spec["fault"]
    if name == "wrong_type":
        target = spec["field"] if spec["field"] != "*" else t.fields[0]
        value = spec["value"]
        if isinstance(body[target], bool | int | float) and value is None and target not in (
                "seq", "ts"):
            value = "text"  # null may be allowed for an optional field
        body[target] = value
        # a list in place of a list of objects is refused item by item: samples.0: …
        return json.dumps(body).encode(), SCHEMA + re.escape(target) + r"(\.\d+)?: "
    if name == "nan":
        number, loc, now = numeric(body)
        raw = json.dumps(body).replace(json.dumps({number: now})[1:-1],
                                       f'"{number}": {spec["literal"]}', 1)
        return raw.encode(), SCHEMA + re.escape(loc) + ": "
    if name == "huge":
        if spec["seq"] > 0:
            body["seq"] = spec["seq"]
            return json.dumps(body).encode(), SCHEMA + "seq: "
        number, loc, now = numeric(body)
        raw = json.dumps(body).replace(json.dumps({number: now})[1:-1],
                                       f'"{number}": {spec["number"]}', 1)
        return raw.encode(), SCHEMA + re.escape(loc) + ": "
    if name == "unknown_field":
        key = f"x_{spec['name']}"
        body[key] = spec["value"]
        return json.dumps(body).encode(), SCHEMA + re.escape(key) + ": Extra inputs"
    if name == "future":
        body["ts"] = (datetime.now(UTC) + timedelta(seconds=spec["seconds"])).isoformat()
        return json.dumps(body).encode(), r"^timestamp .* is in the future"
    assert name == "impostor", name
    body["device"] = t.impostor
    return json.dumps(body).encode(), rf"^device '{re.escape(t.impostor)}' published under"


def build(pipe: Pipeline, spec: dict[str, Any]) -> Built:
    t = pipe.templates[spec["device"] % len(pipe.templates)]
    out = Built(t.topic, b"")
    name = spec["fault"]
    if name == "good":
        bodies = [reading(pipe, t) for _ in range(spec["n"])]
        out.payload = json.dumps(bodies if spec["n"] > 1 else bodies[0]).encode()
        out.good = [(b["device"], b["seq"]) for b in bodies]
    elif name in ITEM_FAULTS:
        out.payload, pattern = bad_reading(pipe, t, spec)
        out.letters = [pattern]
    elif name == "truncated":
        whole = json.dumps(reading(pipe, t)).encode()
        out.payload = whole[:max(1, int(len(whole) * spec["fraction"]))]
        out.letters = [NOT_JSON]
    elif name == "deep":
        depth, shape = spec["depth"], spec["shape"]
        close = "]" if shape == "[" else "}"
        out.payload = (shape * depth + "1" + close * depth).encode()
        # arrays shallow enough to parse are arrays of no reading; anything deeper is no JSON
        out.letters = [r"payload is not UTF-8 JSON|payload is not a JSON object|^schema: "]
    elif name == "oversize":
        body = reading(pipe, t)
        body["pad"] = "x" * spec["size"]
        out.payload = json.dumps(body).encode()
        out.letters = [rf"^payload of {len(out.payload)} bytes is larger than "
                       r"ingest.max_message_bytes"]
    elif name == "invalid_utf8":
        out.payload = json.dumps(reading(pipe, t)).encode().replace(b'"device": "',
                                                                   b'"device": "\xff\xfe')
        out.letters = [NOT_JSON]
    elif name == "binary":
        out.payload = spec["bytes"]
        out.letters = [NOT_JSON]
    elif name == "not_object":
        out.payload = spec["payload"]
        out.letters = [r"^payload is not a JSON object"]
    elif name == "empty_array":
        out.payload = b"[]"
        out.letters = [r"^payload is an empty array"]
    else:
        assert name == "mixed_array", name
        parts = []
        for n, item in enumerate(spec["items"]):
            if item["fault"] == "good":
                body = reading(pipe, t)
                parts.append(json.dumps(body).encode())
                out.good.append((body["device"], body["seq"]))
            else:
                raw, pattern = bad_reading(pipe, t, item)
                parts.append(raw)
                out.letters.append(rf"^reading \[{n}\]: " + pattern.lstrip("^"))
        out.payload = b"[" + b",".join(parts) + b"]"
    return out


# ---- publishing as the devices, and checking what the pipeline made of it ----------------

def client_for(pipe: Pipeline, topic: str) -> mqtt.Client:
    device = topic.split("/")[3]
    if device not in pipe.clients:
        login = Credentials(pipe.settings).device(device)
        client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=f"fuzz-{device}",
                             protocol=mqtt.MQTTv5)
        client.username_pw_set(login.username, login.password)
        client.connect("127.0.0.1", pipe.settings.mqtt.port)
        client.loop_start()
        pipe.clients[device] = client
    return pipe.clients[device]


def letters_since(pipe: Pipeline, since: datetime) -> dict[str, list[str]]:
    found: dict[str, list[str]] = defaultdict(list)
    for source, reason in pipe.conn.execute(
            "SELECT source, reason FROM dead_letters WHERE stage = 'ingest' AND "
            "received_at >= %s", [since]):
        found[source].append(reason)
    return found


def stored(pipe: Pipeline, good: list[tuple[str, int]]) -> int:
    tables = {t.table for t in pipe.templates}
    union = sql.SQL(" UNION ALL ").join(
        sql.SQL("SELECT device, seq FROM {} WHERE seq >= 10000000").format(sql.Identifier(t))
        for t in tables)
    rows = pipe.conn.execute(union).fetchall()
    wanted = set(good)
    return sum(1 for row in rows if row in wanted)


def unmatched(expected: dict[str, list[str]], got: dict[str, list[str]]) -> list[str]:
    """Each expected pattern must take a dead letter of its own topic, one each (a matching
    of patterns to reasons, by augmenting paths); what is left over on either side is wrong."""
    problems = []
    for topic in set(expected) | set(got):
        patterns, reasons = expected.get(topic, []), got.get(topic, [])
        fits = [[j for j, r in enumerate(reasons) if re.search(p, r)] for p in patterns]
        owner: dict[int, int] = {}  # reason index -> pattern index

        def take(i: int, seen: set[int]) -> bool:
            for j in fits[i]:
                if j not in seen:
                    seen.add(j)
                    if j not in owner or take(owner[j], seen):
                        owner[j] = i
                        return True
            return False

        taken = {i for i in range(len(patterns)) if take(i, set())}
        problems += [f"{topic}: no dead letter matching {patterns[i]!r}"
                     for i in range(len(patterns)) if i not in taken]
        problems += [f"{topic}: unexpected dead letter {r!r}" for j, r in enumerate(reasons)
                     if j not in owner]
    return problems


@pytest.mark.filterwarnings("ignore:Generating overly large repr")  # a failure's report
@hsettings(max_examples=EXAMPLES, deadline=None, database=None,
           phases=(Phase.explicit, Phase.generate),  # each example costs real traffic
           suppress_health_check=list(HealthCheck))
@given(specs=st.lists(message_specs(), min_size=PER_EXAMPLE, max_size=PER_EXAMPLE))
def test_bad_payloads_are_dead_letters_and_good_readings_are_stored_once(
        pipeline: Pipeline, specs: list[dict[str, Any]]):
    since = datetime.now(UTC) - timedelta(milliseconds=5)
    built = [build(pipeline, spec) for spec in specs]
    infos = [client_for(pipeline, b.topic).publish(b.topic, b.payload, qos=1) for b in built]
    for info in infos:
        info.wait_for_publish(30)
    expected: dict[str, list[str]] = defaultdict(list)
    good: list[tuple[str, int]] = []
    for b in built:
        expected[b.topic] += b.letters
        good += b.good
    letters = sum(map(len, expected.values()))
    wait_for(lambda: sum(map(len, letters_since(pipeline, since).values())) >= letters
             and stored(pipeline, good) >= len(good), 90, "the example's letters and readings",
             lambda: (sum(map(len, letters_since(pipeline, since).values())), letters,
                      stored(pipeline, good), len(good)))
    problems = unmatched(expected, letters_since(pipeline, since))
    assert not problems, "\n".join(problems[:20])
    assert stored(pipeline, good) == len(good)
    TOTALS["bad"] += letters
    TOTALS["good"] += len(good)


def test_no_component_restarted_and_the_counts(pipeline: Pipeline):
    components = pipeline.parts.health("run")["components"]  # type: ignore[index]
    assert {n: c["restarts"] for n, c in components.items()} == dict.fromkeys(
        all_components(registry(pipeline.settings.plugins)), 0)
    assert all(c["state"] == "ready" for c in components.values())
    kinds = {t.kind for t in pipeline.templates}
    assert kinds == set(registry(pipeline.settings.plugins)) and len(kinds) >= 2
    assert TOTALS["bad"] >= 10_000, TOTALS
    (total,) = pipeline.conn.execute(
        "SELECT count(*) FROM dead_letters WHERE stage = 'ingest'").fetchone()  # type: ignore[misc]
    assert total == TOTALS["bad"]
    print(f"fuzz: {TOTALS['bad']} bad payloads dead-lettered, {TOTALS['good']} good readings "
          "stored once")
