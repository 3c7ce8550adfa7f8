"""Message templates: the shipped rules speak Chinese and English, a receiver's language picks
its texts, a route's template wins over a receiver's over the shipped one, and `fjsense alerts
check` refuses a template that fails, naming the file, its line and the field."""

from __future__ import annotations

import logging
import string
from datetime import UTC, datetime
from pathlib import Path

import pytest

from app.alerts import check
from fjsense.rulefile import parse_rule_text, read_rule_files
from fjsense.settings import Settings
from fjsense.yamlfile import YamlError
from sinks.message import Message
from sinks.routing import load_routes
from sinks.templates import Templates, in_language

SETTINGS = Settings(alerts={"webhook_url": "http://127.0.0.1:9/hook", "smtp_host": "127.0.0.1",
                            "email_to": ["duty@fj.example"],
                            "dingtalk_url": "http://127.0.0.1:9/robot"})
AT = datetime(2026, 9, 14, 19, 20, tzinfo=UTC)  # 03:20 in Fujian
SURGE = {  # as the engine makes it for the shipped tide-surge rule at Xiamen
    "rule": "tide-surge", "group_key": "xiamen-tide", "group_by": "site", "state": "firing",
    "at": AT.isoformat(), "value": 1.284, "threshold": 0.8, "severity": "warning",
    "summary": "Storm surge at Xiamen tide station: 1.28 m above the astronomical tide",
    "annotations": {"summary": "Storm surge at Xiamen tide station: 1.28 m above the "
                               "astronomical tide",
                    "summary_zh": "Xiamen tide station风暴增水：高于天文潮1.28米",
                    "name": "Xiamen tide station"},
    "labels": {"rule": "tide-surge", "severity": "warning", "site": "xiamen-tide",
               "team": "tide"}, "site": "xiamen-tide", "region": "xiamen"}


def templates(tmp_path: Path, text: str) -> tuple[Templates, Path]:
    path = tmp_path / "rules with spaces.yaml"
    path.write_text(text)
    doc = parse_rule_text(text, str(path), SETTINGS)
    return Templates(SETTINGS, doc, load_routes(SETTINGS, doc)), path


def message(receiver: str, route: str = "default") -> Message:
    return Message("5be3a1", receiver, route, "new", {}, [SURGE])


def test_every_shipped_rule_says_its_summary_in_chinese_with_the_same_fields():
    fields = lambda text: {f for _, f, _, _ in string.Formatter().parse(text) if f}
    rules = [r for doc in read_rule_files(Settings()) for r in doc.data["rules"]]
    assert len(rules) >= 30
    for rule in rules:
        notes = rule["annotations"]
        assert fields(notes["summary_zh"]) == fields(notes["summary"]), rule["name"]
        assert any("\u4e00" <= c <= "\u9fff" for c in notes["summary_zh"]), rule["name"]


def test_annotations_in_a_language_fall_back_to_the_plain_text():
    notes = {"summary": "Surge", "summary_zh": "增水", "runbook": "https://wiki/surge"}
    assert in_language(notes, "zh") == {"summary": "增水", "runbook": "https://wiki/surge"}
    assert in_language(notes, "en") == {"summary": "Surge", "runbook": "https://wiki/surge"}


def test_each_receiver_gets_the_shipped_texts_of_its_language(tmp_path: Path):
    shipped, _ = templates(tmp_path, "rules: []\nreceivers: {email: {lang: zh}}\n")
    robot = shipped.render(message("dingtalk"))  # Chinese by default
    assert robot.lang == "zh"
    assert robot.texts == {"text": (
        "【告警】Xiamen tide station\n"
        "告警  2026-09-15 03:20  Xiamen tide station风暴增水：高于天文潮1.28米\n"
        "http://localhost:3000/d/fjsense-alerts\n"
        "id 5be3a1")}
    mail = shipped.render(message("email"))  # told to speak Chinese
    assert mail.texts["email_subject"] == (
        "【告警】Xiamen tide station Xiamen tide station风暴增水：高于天文潮1.28米")
    assert "级别：警告，颜色：黄色" in mail.texts["email_body"]
    hook = shipped.render(message("webhook"))  # English; the JSON carries the text
    assert set(hook.texts) == {"text"} and hook.texts["text"].startswith(
        "[FIRING] tide-surge at Xiamen tide station\n"
        "firing  2026-09-15 03:20  Storm surge at Xiamen tide station: 1.28 m above")
    assert b'"lang": "en"' in hook.body()


def test_a_routes_template_wins_over_the_receivers_over_the_shipped(tmp_path: Path):
    chosen, _ = templates(tmp_path, """rules: []
receivers:
  email:
    lang: en
    templates: {email_subject: "{{ alert.station }} {{ alert.colour }} {{ alert.value }}"}
  webhook:
    templates:
      webhook_body: '{"msg": {{ alert.summary|tojson }}, "at": "{{ alert.at_local }}"}'
routes:
  - {match: {team: tide}, receivers: [email, dingtalk],
     templates: {text: "{{ alert.labels.team }}: {{ alert.summary }}"}}
  - {receivers: [email, webhook]}
""")
    routed = chosen.render(message("dingtalk", "route-0"))
    assert routed.texts == {"text": "tide: Xiamen tide station风暴增水：高于天文潮1.28米"}
    mail = chosen.render(message("email", "route-0"))
    assert mail.texts["email_subject"] == "Xiamen tide station yellow 1.284"
    assert mail.texts["email_body"].startswith("FIRING  2026-09-15 03:20 (Beijing time)")
    hook = chosen.render(message("webhook", "route-1"))
    assert hook.texts["webhook_body"] == (
        '{"msg": "Storm surge at Xiamen tide station: 1.28 m above the astronomical tide", '
        '"at": "2026-09-15 03:20"}')


def test_a_template_that_fails_at_delivery_gives_way_to_the_shipped_one(
        tmp_path: Path, caplog: pytest.LogCaptureFixture):
    chosen, path = templates(tmp_path, """rules: []
receivers:
  dingtalk:
    templates: {text: "{{ alert.labels.owner }}"}
""")
    with caplog.at_level(logging.WARNING, "fjsense.alerts"):
        sent = chosen.render(message("dingtalk"))
    assert sent.texts["text"].startswith("【告警】Xiamen tide station\n")
    assert f"{path}:4: receivers.dingtalk.templates.text: template fails" in caplog.text


@pytest.mark.parametrize(("text", "line", "field", "reason"), [
    ("""routes:
  - receivers: [dingtalk]
    templates:
      text: |
        {{ alert.summary }}
        {{ alert.stationn }}
""", 7, "routes.0.templates.text", "'dict object' has no attribute 'stationn'"),
    ("""routes:
  - receivers: [email]
    templates: {email_subject: "{% if alert.value > 1 %}high"}
""", 4, "routes.0.templates.email_subject", "not a valid template"),
    ("""receivers:
  webhook:
    templates:
      webhook_body: '{"summary": {{ alert.summary }}}'
""", 5, "receivers.webhook.templates.webhook_body", "the webhook body is not JSON"),
    ("""receivers:
  dingtalk:
    templates: {email_subject: "{{ alert.rule }}"}
""", 4, "receivers.dingtalk.templates.email_subject", "no text 'email_subject' here; texts: text"),
    ("""receivers:
  pager: {lang: zh}
""", 3, "receivers.pager", "no receiver 'pager'"),
    ("""receivers:
  email: {lang: fr}
""", 3, "receivers.email.lang", "Input should be 'zh' or 'en'"),
])
def test_alerts_check_refuses_a_failing_template_naming_file_line_and_field(
        tmp_path: Path, text: str, line: int, field: str, reason: str):
    path = tmp_path / "a path with spaces" / "rules.yaml"
    path.parent.mkdir()
    path.write_text("rules: []\n" + text)
    with pytest.raises(YamlError) as refused:
        check(SETTINGS, path)
    assert str(refused.value).startswith(f"{path}:{line}: {field}: "), refused.value
    assert reason in str(refused.value)


def test_alerts_check_renders_the_shipped_and_the_operators_templates(tmp_path: Path):
    path = tmp_path / "rules.yaml"
    path.write_text("""rules: []
receivers: {wecom: {lang: en}}
routes:
  - {match: {team: tide}, receivers: [dingtalk], templates: {text: "{{ alert.summary }}"}}
  - {receivers: [email]}
""")
    rules, routes, rendered = check(SETTINGS, path)
    assert len(rules) == 31
    assert routes[0].startswith("route route-0: team=tide → dingtalk (zh), grouped by")
    # 31 sample alerts: the shipped 4 texts in 2 languages, the tide route's text for its 7
    # tide rules, the catch-all route's 2 e-mail texts, WeCom's text in English
    assert rendered == 31 * 4 * 2 + 7 + 31 * 2 + 31
