"""Every registered detector × every contract check (STYLE §4, §8).

A detector added to ``DETECTORS`` is picked up here without a new test: unique name, a
description, a configuration model that refuses unknown fields, test configurations that
build, and ``observe`` returning well-formed findings for an ordinary event.
"""

from __future__ import annotations

import json
from typing import Any

import pydantic
import pytest

from sentinelle.detect import (
    DETECTORS,
    DetectConfig,
    Detector,
    DetectorConfig,
    Engine,
    Finding,
    Severity,
)
from sentinelle.detect.context import Context
from sentinelle.events import AccessEvent, ContextEvent, decode_event, time_us

CLASSES = sorted(DETECTORS.values(), key=lambda cls: cls.name)
EACH = pytest.mark.parametrize("cls", CLASSES, ids=[cls.name for cls in CLASSES])
PARAMS = [
    pytest.param(cls, params, id=f"{cls.name}-{i}")
    for cls in CLASSES
    for i, params in enumerate(cls._test_params())
]

BENIGN: dict[str, Any] = {
    "id": "evt-1",
    "time": "2026-11-02T09:00:00Z",
    "actor": {"id": "agent-1", "kind": "staff", "role": "support", "team": "care"},
    "action": "view",
    "merchant": "m-1001",
    "resource": {"type": "order", "count": 1},
    "subjects": ["c-1"],
    "data": ["contact", "order_details"],
    "channel": "support_console",
    "justification": {"ticket": "T-1", "reason": "customer_request"},
    "source": {"ip": "198.51.100.7", "device": "laptop-1", "country": "FR"},
    "outcome": "allowed",
}
TICKET = [
    {"id": "c-1", "time": "2026-11-02T08:55:00Z", "type": "ticket.opened", "ticket": "T-1",
     "merchant": "m-1001"},
    {"id": "c-2", "time": "2026-11-02T08:55:00Z", "type": "ticket.assigned", "ticket": "T-1",
     "merchant": "m-1001", "actor": "agent-1"},
]  # fmt: skip


def test_registry_is_keyed_by_unique_names() -> None:
    assert len(DETECTORS) == 16
    assert [cls.name for cls in DETECTORS.values()] == list(DETECTORS)
    assert len({cls.name for cls in DETECTORS.values()}) == len(DETECTORS)
    assert len(set(DETECTORS.values())) == len(DETECTORS)


@EACH
def test_declares_name_and_description(cls: type[Detector]) -> None:
    assert isinstance(cls.name, str)
    assert cls.name.isidentifier()
    assert cls.name == cls.name.lower()
    assert isinstance(cls.description, str)
    assert cls.description.strip()
    assert (cls.__doc__ or "").strip()


@EACH
def test_config_forbids_unknown_fields(cls: type[Detector]) -> None:
    assert issubclass(cls.Config, DetectorConfig)
    assert cls.Config().enabled is True
    with pytest.raises(pydantic.ValidationError, match="Extra inputs are not permitted"):
        cls.Config.model_validate({"no_such_threshold": 1})


@EACH
def test_config_is_frozen(cls: type[Detector]) -> None:
    config = cls.Config()
    with pytest.raises(pydantic.ValidationError):
        config.enabled = False  # type: ignore[misc]


@EACH
def test_engine_config_can_disable_it(cls: type[Detector]) -> None:
    built = DetectConfig(detectors={cls.name: {"enabled": False}}).build()
    assert cls.name not in {d.name for d in built}
    assert len(built) == len(DETECTORS) - 1


@pytest.mark.parametrize(("cls", "params"), PARAMS)
def test_test_params_build(cls: type[Detector], params: dict[str, Any]) -> None:
    config = cls.Config.model_validate(params)
    detector = cls(config)
    assert detector.config is config
    assert detector.name == cls.name
    # The same configuration, given through the engine's settings, builds the same detector.
    built = {d.name: d for d in DetectConfig(detectors={cls.name: params}).build()}
    if config.enabled:
        assert built[cls.name].config == config


@EACH
def test_default_config_builds_without_arguments(cls: type[Detector]) -> None:
    assert cls().config == cls.Config()


def _observe(detector: Detector, event: AccessEvent, justified: bool) -> list[Finding]:
    ctx = Context()
    for raw in TICKET:
        ticket_event = decode_event(json.dumps(raw))
        assert isinstance(ticket_event, ContextEvent)
        ctx.apply_context(ticket_event, time_us(ticket_event))
    t = time_us(event)
    ctx.now_us = t
    state = ctx.actor(event.actor.id)
    assert ctx.justified(event, t) is justified
    ctx.record_access(state, event, t, justified)
    return detector.observe(event, ctx, state, justified)


@pytest.mark.parametrize("justified", [True, False], ids=["ticketed", "unticketed"])
@pytest.mark.parametrize(("cls", "params"), PARAMS)
def test_observe_returns_well_formed_findings(
    cls: type[Detector], params: dict[str, Any], justified: bool
) -> None:
    raw = BENIGN if justified else {k: v for k, v in BENIGN.items() if k != "justification"}
    event = decode_event(json.dumps(raw))
    assert isinstance(event, AccessEvent)
    findings = _observe(cls(cls.Config.model_validate(params)), event, justified)

    assert isinstance(findings, list)
    for finding in findings:
        assert isinstance(finding, Finding)
        assert finding.detector == cls.name
        assert finding.actor == "agent-1"
        assert finding.time_us == time_us(event)
        assert 0 <= finding.score <= 100
        assert finding.reasons
        assert {type(r) for r in finding.reasons} == {str}
        assert all(r.strip() for r in finding.reasons)
        assert finding.events == ("evt-1",)
    if justified:
        # One ticketed look at one order is the most ordinary event there is.
        assert findings == []


def _provoking() -> list[dict[str, Any]]:
    """Simulated traffic plus a little of everything the built-in detectors look for."""
    from sentinelle.sim import generate_events

    def at(day: int, hour: int, minute: int = 0) -> str:
        return f"2026-11-{2 + day:02d}T{hour:02d}:{minute:02d}:00Z"

    def view(actor: str, merchant: str, time: str, **kw: Any) -> dict[str, Any]:
        base = {k: v for k, v in BENIGN.items() if k != "justification"}
        actor_ = {**BENIGN["actor"], "id": actor}
        return {**base, "id": f"p-{len(events)}", "time": time, "actor": actor_,
                "merchant": merchant, **kw}  # fmt: skip

    def ctx(kind: str, time: str, **kw: Any) -> dict[str, Any]:
        return {"id": f"p-{len(events)}", "time": time, "type": kind, **kw}

    events: list[dict[str, Any]] = list(generate_events(events=1500, seed=11))
    export = {"action": "export", "resource": {"type": "customer_list", "count": 5000}}
    for d in range(9):  # "ana" looks at one customer of one merchant a day, from laptop-1
        events.append(view("ana", "k1", at(d, 9)))
    away = {"source": {"device": "tablet-9", "country": "DE"}}
    for i in range(40):  # then reaches 40 new merchants in an hour, from a new device
        events.append(view("ana", f"u{i:02d}", at(9, 10, i), **away))
    for i in range(8):  # and so does "bob", the same merchants
        events.append(view("bob", f"u{i:02d}", at(9, 11, i)))
    events.append(ctx("staff.notice_given", at(9, 8), actor="ana"))
    events.append(ctx("ticket.opened", at(9, 12), ticket="TQ", merchant="u01", by="ana"))
    events.append(ctx("ticket.assigned", at(9, 12), ticket="TQ", merchant="u01", actor="ana"))
    events.append(ctx("ticket.closed", at(9, 12, 2), ticket="TQ", merchant="u01"))
    events.append(view("ana", "u01", at(9, 13), justification={"ticket": "TQ"}, **export))
    # and lends that case of u01 to the customer list of u02
    events.append(view("ana", "u02", at(9, 13, 5), justification={"ticket": "TQ"}, **export))
    for d in range(9):  # "cy" too (and two peers), then browses two customers each of three
        for who in ("cy", "dan", "eli"):  # new merchants
            events.append(view(who, "k1", at(d, 9)))
    for i in range(6):
        events.append(view("cy", f"w{i // 2}", at(9, 14, i), subjects=[f"c-{i}"]))
    # "fay" breaks the glass once, then is denied at six merchants within the hour
    events.append(ctx("grant.approved", at(9, 15), grant="bg-p-x", actor="fay", by="fay",
                      merchant="k1", reason="break-glass: customer locked out",
                      expires=at(9, 16)))  # fmt: skip
    denied = {"reason": "deny: No ticket is cited: denied."}
    for i in range(6):
        events.append(
            view("fay", f"d{i}", at(9, 15, 10 + i), outcome="denied", justification=denied)
        )

    # "erp", an integration, pulls 100 orders every 6 hours with token tok-1 from one network,
    # then pulls 50,000 at 03:00, reads payment data and is used from another country at once.
    def pull(time: str, count: int = 100, **kw: Any) -> dict[str, Any]:
        base = {k: v for k, v in BENIGN.items() if k != "justification"}
        source = {"ip": "198.51.100.7", "device": "tok-1", "country": "FR"}
        return {**base, "id": f"p-{len(events)}", "time": time,
                "actor": {"id": "erp", "kind": "integration"}, "channel": "integration",
                "resource": {"type": "order_list", "count": count}, "source": source,
                **kw}  # fmt: skip

    for d in range(9):
        for hour in (0, 6, 12, 18):
            events.append(pull(at(d, hour)))
    events.append(pull(at(9, 3), 50_000))
    events.append(pull(at(9, 3, 5), data=["payment_full"]))
    elsewhere = {"ip": "203.0.113.9", "device": "tok-1", "country": "BR"}
    events.append(pull(at(9, 3, 7), source=elsewhere))
    return sorted(events, key=lambda e: e["time"])


PROVOKING = _provoking()


@EACH
def test_findings_on_provoking_traffic_are_well_formed(cls: type[Detector]) -> None:
    events = [decode_event(json.dumps(e)) for e in PROVOKING]
    engine = Engine(DetectConfig(detectors={n: {"enabled": n == cls.name} for n in DETECTORS}))
    [detector] = engine.detectors
    seen: list[tuple[AccessEvent | ContextEvent, list[Finding]]] = []

    def recording(hook: Any) -> Any:
        def recorded(event: AccessEvent | ContextEvent, *args: Any) -> list[Finding]:
            found: list[Finding] = hook(event, *args)
            seen.append((event, found))
            return found

        return recorded

    # Every hook: access events, context events (break_glass), refused accesses (probing).
    detector.observe = recording(detector.observe)  # type: ignore[method-assign]
    detector.observe_context = recording(detector.observe_context)  # type: ignore[method-assign]
    detector.observe_denied = recording(detector.observe_denied)  # type: ignore[method-assign]
    alerts = engine.run(events)

    findings = [(e, f) for e, found in seen for f in found]
    assert findings, f"{cls.name} never fired here: add what provokes it to _provoking()"
    for event, finding in findings:
        assert isinstance(finding, Finding)
        assert finding.detector == cls.name
        actor = event.actor.id if isinstance(event, AccessEvent) else event.actor
        assert finding.actor == actor
        assert finding.time_us == time_us(event)
        assert isinstance(finding.severity, Severity)
        assert 0 <= finding.score <= 100
        assert finding.merchants
        assert event.id in finding.events
        assert finding.reasons
        assert all(r.strip() for r in finding.reasons)
    assert {a.detector for a in alerts} == {cls.name}
    for alert in alerts:
        assert 0 <= alert.score <= 100
        assert alert.events and len(alert.events) <= 200
        assert set(alert.to_dict()) == {
            "id", "actor", "time", "detector", "severity", "score", "merchants", "events",
            "reasons",
        }  # fmt: skip
