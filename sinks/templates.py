"""Message texts from Jinja2 templates, in each receiver's language.

The shipped templates (``sinks/templates.yaml``) have English and Chinese sets. The operator's
rule file may give, per receiver, its language and its own templates::

    receivers:
      dingtalk: {lang: zh}
      email:
        lang: en
        templates: {email_subject: "{{ alert.station }}: {{ alert.summary }}"}

and per route ``templates`` that replace the receiver's for that route's messages. A field is
taken from the route, else the receiver, else the shipped set of the receiver's language.

A template sees the message (``id``, ``status``, ``reason``, ``route``, ``receiver``,
``lang``, ``group_labels``), ``alerts`` (each transition: ``rule``, ``state``, ``at``,
``at_local``, ``severity``, ``colour``, ``value``, ``threshold``, ``group_key``, ``site``,
``region``, ``station``, ``labels``, ``annotations`` and ``summary`` in the message's language,
``url``: its dashboard panel) and ``alert``, the first of them. Undefined names are errors, so
`fjsense alerts check` finds a misspelt one; at delivery a template that fails gives way to
the shipped one, so no message is lost to it.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from importlib import resources
from typing import Any, Literal
from zoneinfo import ZoneInfo

import jinja2
from pydantic import BaseModel, ConfigDict, ValidationError

from dashboards.links import PanelLink
from fjsense.catalog import Catalog
from fjsense.rules import RuleSet, format_annotation
from fjsense.settings import Settings
from fjsense.yamlfile import YamlDoc, YamlError
from sinks.message import Message, colour_of
from sinks.routing import Route

log = logging.getLogger("fjsense.alerts")

Lang = Literal["zh", "en"]
LANGS: tuple[str, ...] = ("zh", "en")
FIELDS_OF = {  # the texts each receiver uses; log and MQTT are for machines: JSON, no text
    "email": ("email_subject", "email_body"), "webhook": ("webhook_body", "text"),
    "dingtalk": ("text",), "wecom": ("text",), "feishu": ("text",), "broadcast": ("speech",)}
FIELDS = ("email_subject", "email_body", "webhook_body", "text", "speech")
CHINESE = ("dingtalk", "wecom", "feishu", "broadcast")  # speak Chinese unless told otherwise
BEIJING = ZoneInfo("Asia/Shanghai")
WORDS = {"zh": {
    "firing": "告警", "resolved": "已恢复", "pending": "待定", "cancelled": "已取消",
    "critical": "严重", "warning": "警告", "info": "提示",
    "blue": "蓝色", "yellow": "黄色", "orange": "橙色", "red": "红色"}}


@jinja2.pass_context
def say(context: Any, word: Any) -> str:
    """A state, severity or colour in the message's language."""
    return WORDS.get(context.get("lang", "en"), {}).get(str(word), str(word))


class ReceiverTexts(BaseModel):
    """One receiver's section of the rule file: its language and its own templates."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    lang: Lang | None = None
    templates: dict[str, str] = {}


@dataclass(frozen=True)
class Compiled:
    """One template and where it was written, for errors that name the file and line."""

    template: jinja2.Template
    doc: YamlDoc
    path: tuple[str | int, ...]

    def render(self, context: dict[str, Any]) -> str:
        """The text; raises YamlError naming the file, line and field when it fails."""
        try:
            text = self.template.render(context).strip()
        except Exception as exc:  # noqa: BLE001 - any failure of a template is the operator's
            raise self.error(exc, _template_line(exc)) from None
        if self.path[-1] == "webhook_body":
            try:
                json.loads(text)
            except ValueError as exc:
                raise self.error(exc, 1, "the webhook body is not JSON") from None
        return text

    def error(self, exc: Exception, line: int, what: str = "") -> YamlError:
        """``file:line: field: what``, the line being the template's line in the file."""
        field = ".".join(str(p) for p in self.path)
        return YamlError(f"{self.doc.name}:{self.doc.text_line(self.path, line)}: {field}: "
                         f"{what or 'template fails'}: {type(exc).__name__}: {exc}")


def _template_line(exc: BaseException) -> int:
    """The template's line where rendering failed (Jinja puts it in the traceback)."""
    line, tb = 1, exc.__traceback__
    while tb is not None:
        if tb.tb_frame.f_code.co_filename == "<template>":
            line = tb.tb_lineno
        tb = tb.tb_next
    return line


def in_language(annotations: dict[str, str], lang: str) -> dict[str, str]:
    """Annotations in ``lang``: ``summary_zh`` is the Chinese ``summary``; an annotation
    without a translation stays as written."""
    suffixes = tuple(f"_{code}" for code in LANGS)
    plain = {k: v for k, v in annotations.items() if not k.endswith(suffixes)}
    return {k: annotations.get(f"{k}_{lang}", v) for k, v in plain.items()}


class Templates:
    """Every template of the shipped set and the operator's rule file, compiled; renders a
    message's texts in its receiver's language."""

    def __init__(self, settings: Settings, doc: YamlDoc | None, routes: Sequence[Route],
                 links: dict[str, PanelLink] | None = None) -> None:
        self.env = jinja2.Environment(undefined=jinja2.StrictUndefined, autoescape=False,
                                      trim_blocks=True, lstrip_blocks=True)
        self.env.filters["say"] = say
        self.grafana_url = settings.alerts.grafana_url
        self.links = links or {}
        shipped = YamlDoc.parse(resources.files("sinks").joinpath("templates.yaml")
                                .read_text(encoding="utf-8"), "shipped templates (templates.yaml)")
        self.shipped = {lang: {field: self._compile(shipped, (lang, field))
                               for field in shipped.data[lang]} for lang in LANGS}
        self.langs: dict[str, str] = {}
        self.own: dict[str, dict[str, Compiled]] = {}
        self.of_route: dict[str, dict[str, Compiled]] = {}
        if doc is None:
            return
        for name, item in (doc.data.get("receivers") or {}).items():
            if name not in FIELDS_OF and name not in ("log", "mqtt"):
                raise doc.error(["receivers", name], f"no receiver {name!r}; receivers: "
                                f"{', '.join(['log', 'mqtt', *FIELDS_OF])}")
            try:
                texts = ReceiverTexts.model_validate(item or {})
            except ValidationError as exc:
                raise doc.invalid(["receivers", name], exc) from None
            if texts.lang:
                self.langs[name] = texts.lang
            self.own[name] = self._own(doc, ("receivers", name, "templates"), texts.templates,
                                       FIELDS_OF.get(name, ()))
        for n, route in enumerate(doc.data.get("routes") or []):
            if isinstance(route, dict) and route.get("templates"):
                self.of_route[routes[n].name] = self._own(
                    doc, ("routes", n, "templates"), routes[n].templates, FIELDS)

    def _compile(self, doc: YamlDoc, path: tuple[str | int, ...]) -> Compiled:
        node: Any = doc.data
        for part in path:
            node = node[part]
        try:
            return Compiled(self.env.from_string(str(node)), doc, path)
        except jinja2.TemplateSyntaxError as exc:
            raise YamlError(f"{doc.name}:{doc.text_line(path, exc.lineno)}: "
                            f"{'.'.join(map(str, path))}: not a valid template: {exc.message}"
                            ) from None

    def _own(self, doc: YamlDoc, path: tuple[str | int, ...], templates: dict[str, str],
             allowed: Sequence[str]) -> dict[str, Compiled]:
        for field in templates:
            if field not in allowed:
                raise doc.error([*path, field], f"no text {field!r} here; texts: "
                                f"{', '.join(allowed) or 'none (this receiver sends JSON)'}")
        return {field: self._compile(doc, (*path, field)) for field in templates}

    def lang_of(self, receiver: str) -> str:
        """The receiver's language: its section's ``lang``, else Chinese for the messengers
        and the broadcast points, English for the rest."""
        return self.langs.get(receiver, "zh" if receiver in CHINESE else "en")

    def chosen(self, route: str, receiver: str, lang: str) -> dict[str, Compiled]:
        """The template of each field the receiver uses: the route's, the receiver's, or the
        shipped one of its language (``webhook_body`` has none: the webhook's JSON)."""
        own, routed = self.own.get(receiver, {}), self.of_route.get(route, {})
        found = {}
        for field in FIELDS_OF.get(receiver, ()):
            template = routed.get(field) or own.get(field) or self.shipped[lang].get(field)
            if template is not None:
                found[field] = template
        return found

    def context(self, message: Message, lang: str) -> dict[str, Any]:
        """What a template sees."""
        alerts = [self._alert(e, lang) for e in message.events]
        return {"id": message.id, "status": message.status, "reason": message.reason,
                "route": message.route, "receiver": message.receiver, "lang": lang,
                "group_labels": message.group_labels, "alerts": alerts, "alert": alerts[0]}

    def _alert(self, event: dict[str, Any], lang: str) -> dict[str, Any]:
        at = event["at"] if isinstance(event["at"], datetime) else datetime.fromisoformat(
            event["at"])
        annotations = in_language(event.get("annotations") or {}, lang)
        link = self.links.get(event["rule"])
        return {**event, "at": at.isoformat(),
                "at_local": at.astimezone(BEIJING).strftime("%Y-%m-%d %H:%M"),
                "annotations": annotations,
                "summary": annotations.get("summary") or event["summary"],
                "station": annotations.get("name") or event["group_key"],
                "colour": colour_of(event), "labels": event.get("labels") or {},
                "url": link.url(self.grafana_url, event.get("site"), at) if link else
                f"{self.grafana_url.rstrip('/')}/d/fjsense-alerts"}

    def render(self, message: Message) -> Message:
        """The message with its texts, in its receiver's language. A template that fails at
        delivery gives way to the shipped one (logged), so the message still goes."""
        lang = self.lang_of(message.receiver)
        context = self.context(message, lang)
        texts = {}
        for field, template in self.chosen(message.route, message.receiver, lang).items():
            try:
                texts[field] = template.render(context)
            except YamlError as exc:
                shipped = self.shipped[lang].get(field)
                if shipped is None:
                    raise
                log.warning("%s; the shipped template is used instead", exc)
                texts[field] = shipped.render(context)
        return replace(message, lang=lang, texts=texts)

    def check(self, routes: Sequence[Route], samples: Sequence[dict[str, Any]]) -> int:
        """Render every template (the shipped sets in both languages, each receiver's, each
        route's for each of its receivers) with sample alerts; raises YamlError naming the
        file, line and field of the first that fails. Returns how many were rendered."""
        done = 0
        pairs = [(r.name, name, [s for s in samples if r.takes(s["labels"])] or list(samples))
                 for r in routes for name in r.receivers]
        pairs += [("(sample)", name, list(samples)) for name in self.own]
        for route, receiver, events in pairs:
            lang = self.lang_of(receiver)
            for event in events:
                context = self.context(Message(f"sample-{receiver}", receiver, route, "new", {},
                                               [event]), lang)
                for template in self.chosen(route, receiver, lang).values():
                    template.render(context)
                    done += 1
        for lang in LANGS:
            for template in self.shipped[lang].values():
                for event in samples:
                    template.render(self.context(Message("sample", "sample", "(sample)", "new",
                                                         {}, [event]), lang))
                    done += 1
        return done


def sample_events(rules: RuleSet, catalog: Catalog, now: datetime) -> list[dict[str, Any]]:
    """One firing transition per rule, as the engine would make it at a station of its scope
    (its value just past its threshold), for rendering templates before any alert fires."""
    sites = list(catalog.sites)
    events = []
    for rule in rules.rules:
        site = next((s for s in sites if rule.group_by != "region" and s.kind in
                     rules.streams[rule.source].topic), sites[0] if sites else None)
        threshold = rule.above if isinstance(rule.above, int | float) else (
            rule.below if isinstance(rule.below, int | float) else rule.hi)
        value = (threshold or 0.0) + 1.0
        name = site.name if site is not None else "Sample station"
        group = site.id if site is not None else "sample"
        fields = {"rule": rule.name, "state": "firing", "group": group, "name": name,
                  "value": value, "threshold": threshold, "unit": rule.annotations.get("unit", ""),
                  "firing": 2, "of": 3}
        annotations = {k: format_annotation(v, **fields) for k, v in rule.annotations.items()}
        events.append({
            "rule": rule.name, "group_key": group, "group_by": rule.group_by, "state": "firing",
            "at": now, "value": value, "threshold": threshold, "severity": rule.severity,
            "labels": {"rule": rule.name, "severity": rule.severity, **rule.labels},
            "summary": format_annotation(rule.summary_template, **fields),
            "annotations": {**annotations, "name": name},
            "site": site.id if site is not None else None,
            "region": site.region if site is not None else None})
    return events
