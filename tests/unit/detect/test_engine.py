"""The detection engine: merging findings into alerts, deterministic ids, warm-up without
alerts, saved state, the TOML configuration, and per-actor risk.

Events are built as JSON dicts and decoded like ingest does. How findings become alerts is
tested with a stub detector (:class:`Echo`) that fires exactly where told, so these tests do
not move when the built-in detectors' thresholds are tuned; warm-up, ids and saved state are
also checked with the built-in detectors over ``story()``, ten days of incidents within
simulated traffic.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import itertools
import json
import re
from pathlib import Path
from typing import Any

import msgspec
import pytest

from sentinelle.detect import (
    DETECTORS,
    Alert,
    DetectConfig,
    Detector,
    Engine,
    Finding,
    Severity,
    risk_by_actor,
)
from sentinelle.detect.context import ActorState, Context
from sentinelle.errors import ConfigError
from sentinelle.events import AccessEvent, Event, decode_event, time_us
from sentinelle.sim import generate_events
from sentinelle.timeutil import DAY, HOUR

T0 = dt.datetime(2026, 11, 2, tzinfo=dt.UTC)
REPO = Path(__file__).resolve().parents[3]
_ids = itertools.count(1)


# -- events ------------------------------------------------------------------------------------


def at(day: float, hour: int = 9, minute: int = 0) -> dt.datetime:
    """``day`` days after Monday 2026-11-02 00:00 UTC, at ``hour:minute``."""
    return T0 + dt.timedelta(days=day, hours=hour, minutes=minute)


def us(when: dt.datetime) -> int:
    """Microseconds since the epoch."""
    return (when - dt.datetime(1970, 1, 1, tzinfo=dt.UTC)) // dt.timedelta(microseconds=1)


def access(
    actor: str, merchant: str, when: dt.datetime, *, id: str | None = None, **kw: Any
) -> dict[str, Any]:
    """A staff view of one customer (``kw`` overrides fields; ``ticket`` justifies)."""
    ticket = kw.pop("ticket", None)
    event: dict[str, Any] = {
        "id": id or f"a-{next(_ids)}",
        "time": when.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "actor": {"id": actor, "kind": "staff", "role": "support", "team": "care"},
        "action": "view",
        "merchant": merchant,
        "resource": {"type": "customer", "count": 1},
        "subjects": [f"c-{merchant}-1"],
        "data": ["contact"],
        "channel": "support_console",
        "source": {"device": kw.pop("device", "laptop-1"), "country": "FR"},
        "outcome": "allowed",
        **kw,
    }
    if ticket:
        event["justification"] = {"ticket": ticket}
    return event


def context(kind: str, when: dt.datetime, **fields: Any) -> dict[str, Any]:
    """A ticket, staff or grant event."""
    return {
        "id": f"c-{next(_ids)}",
        "time": when.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "type": kind,
        **fields,
    }


def ticket(
    tid: str, merchant: str, actor: str, when: dt.datetime, **extra: Any
) -> list[dict[str, Any]]:
    """A ticket opened and assigned to ``actor``; ``closed=`` closes it."""
    closed = extra.pop("closed", None)
    events = [
        context("ticket.opened", when, ticket=tid, merchant=merchant, **extra),
        context("ticket.assigned", when, ticket=tid, merchant=merchant, actor=actor),
    ]
    if closed:
        events.append(context("ticket.closed", closed, ticket=tid, merchant=merchant))
    return events


def decoded(events: list[dict[str, Any]]) -> list[Event]:
    """Decoded and in time order (ties keep their order)."""
    return sorted((decode_event(json.dumps(e)) for e in events), key=time_us)


def story() -> list[dict[str, Any]]:
    """Ten days of incidents, one or more for each detector, by actors ana to ivy."""
    events: list[dict[str, Any]] = []
    for d in range(8):  # ana: a clean week of ticketed work, on laptop-1
        events += ticket(f"TA{d}", f"k{d}", "ana", at(d, 9))
        events.append(access("ana", f"k{d}", at(d, 9, 5), ticket=f"TA{d}"))
    # unjustified access to 8 merchants new to her on day 8 (an alert raised with each from the
    # fifth), 4 more the next morning, and one from a new device
    events += [access("ana", f"u{i}", at(8, 10, i)) for i in range(8)]
    events += [access("ana", f"u{i}", at(9, 9, i)) for i in range(8, 12)]
    events.append(access("ana", "u20", at(9, 14), device="tablet-9"))
    # bob then cy: the same six merchants, new to both, without tickets
    events += [access("bob", f"x{i}", at(1 + i // 2, 11, i)) for i in range(6)]
    events += [access("cy", f"x{i}", at(4 + i // 2, 12, i)) for i in range(6)]
    # dee: notice, then two exports 18 hours apart (one alert raised twice)
    events.append(context("staff.notice_given", at(2, 9), actor="dee"))
    for when in (at(4, 16), at(5, 10)):
        events.append(
            access("dee", "m1", when, action="export", resource={"type": "customer_list"})
        )
    # eve: a ticket she opened and closed within minutes, then an export citing it
    events += ticket("TE", "m2", "eve", at(5, 10), by="eve", closed=at(5, 10, 4))
    events.append(
        access(
            "eve",
            "m2",
            at(5, 11),
            action="export",
            resource={"type": "customer_list", "count": 900},
            ticket="TE",
        )
    )
    # fay: the same customer again and again, twice a day on four days
    looks = [at(d, h) for d in (3, 4, 5, 6) for h in (9, 15)]
    events += [access("fay", "m3", when, subjects=["c-7"]) for when in looks]
    # gus: a week of ticketed work, then a burst of 40 merchants (he has no lead's role)
    for d in range(7):
        events += ticket(f"TG{d}", f"g{d}", "gus", at(d, 8))
        events.append(access("gus", f"g{d}", at(d, 8, 5), ticket=f"TG{d}"))
    events += [access("gus", f"b{i:02d}", at(7, 13, i)) for i in range(40)]
    # hal: a week of ticketed work, then two customers each of three merchants new to him,
    # without tickets (long_horizon: browsing new merchants far above his rate)
    for d in range(7):
        events += ticket(f"TH{d}", f"h{d}", "hal", at(d, 8))
        events.append(access("hal", f"h{d}", at(d, 8, 5), ticket=f"TH{d}"))
    for i in range(3):
        for c in ("c-1", "c-2"):
            events.append(access("hal", f"n{i}", at(8, 10 + i, int(c[-1])), subjects=[c]))

    # ivy: her ticket of merchant v0, cited for the customer list of another merchant
    events += ticket("TV", "v0", "ivy", at(6, 9))
    listing = {"type": "customer_list", "count": 12}
    subjects = [f"c-v1-{i}" for i in range(12)]
    events.append(access("ivy", "v1", at(6, 10), resource=listing, subjects=subjects, ticket="TV"))

    # erp, an integration: 100 orders every 6 hours with token tok-1 from one network for a
    # week, then 50,000 at 03:00, payment data, and tok-1 from another country at once
    def pull(when: dt.datetime, source: dict[str, str], **kw: Any) -> dict[str, Any]:
        event = access("erp", "e1", when, source=source, channel="integration", **kw)
        event["actor"] = {"id": "erp", "kind": "integration"}
        return event

    home = {"ip": "198.51.100.7", "device": "tok-1", "country": "FR"}
    for d in range(8):
        for hour in (0, 6, 12, 18):
            events.append(pull(at(d, hour), home))
    events.append(pull(at(8, 3), home, resource={"type": "order_list", "count": 50_000}))
    events.append(pull(at(8, 3, 5), home, data=["payment_full"]))
    events.append(pull(at(8, 3, 7), {"ip": "203.0.113.9", "device": "tok-1", "country": "BR"}))
    # Ids that do not depend on how many events other tests built before.
    for n, event in enumerate(events):
        event["id"] = f"s-{n}"
    return events


def background() -> list[dict[str, Any]]:
    """Ordinary simulated traffic over the same days (agents, apps, exports)."""
    return [
        {**e, "id": f"sim-{e['id']}"} for e in generate_events(events=2500, seed=3, start=at(0, 8))
    ]


def snapshot(alerts: list[Alert]) -> dict[str, dict[str, Any]]:
    """Every field of every alert, by id."""
    return {a.id: dataclasses.asdict(a) for a in alerts}


@pytest.fixture(scope="module")
def mixed() -> list[Event]:
    """The story within simulated traffic, decoded, in time order."""
    return decoded(story() + background())


@pytest.fixture(scope="module")
def whole(mixed: list[Event]) -> tuple[Engine, list[Alert]]:
    """One uninterrupted run of the built-in detectors over ``mixed``."""
    engine = Engine()
    alerts = engine.run(mixed)
    # The story has one of each but the guard's signals (tests/unit/test_guard_signals.py).
    assert {a.detector for a in alerts} == set(DETECTORS) - {"break_glass", "probing"}
    return engine, alerts


# -- a stub detector ---------------------------------------------------------------------------


class Echo(Detector):
    """Stub: a finding for each access whose id is in ``fires``, at that severity."""

    name = "echo"
    description = "Test stub: fires where told."

    def __init__(self, fires: dict[str, Severity], *, twice: bool = False) -> None:
        super().__init__()
        self.fires = fires
        self.twice = twice

    def observe(
        self,
        event: AccessEvent,
        ctx: Context,
        state: ActorState,  # noqa: ARG002
        justified: bool,  # noqa: ARG002
    ) -> list[Finding]:
        severity = self.fires.get(event.id)
        if severity is None:
            return []
        found = [
            Finding(
                self.name,
                event.actor.id,
                ctx.now_us,
                severity,
                20.0 * severity,
                (event.merchant,),
                (event.id,),
                (f"{severity} at {event.merchant} ({event.id})",),
            )
        ]
        if self.twice:  # e.g. collusion with two partners: two findings from one event
            found.append(dataclasses.replace(found[0], merchants=(event.merchant + "-b",)))
        return found


class Other(Echo):
    """The same stub under another name."""

    name = "other"


def stubbed(*detectors: Detector, **settings: Any) -> Engine:
    """An engine running only the given stubs."""
    engine = Engine(DetectConfig(detectors={n: {"enabled": False} for n in DETECTORS}, **settings))
    assert engine.detectors == []
    engine.detectors = list(detectors)
    return engine


def views(*specs: tuple[str, str, dt.datetime]) -> list[Event]:
    """Views ``(id, actor, when)``, of merchant m-<id>."""
    return decoded([access(actor, f"m-{i}", when, id=i) for i, actor, when in specs])


M, H, L, C = Severity.MEDIUM, Severity.HIGH, Severity.LOW, Severity.CRITICAL


# -- merging findings into alerts --------------------------------------------------------------


def test_findings_within_24h_merge_into_one_alert() -> None:
    # HIGH at 10:00 and 20:00, then LOW at 09:00 the next day (23 h after the first).
    events = views(("e1", "ana", at(0, 10)), ("e2", "ana", at(0, 20)), ("e3", "ana", at(1, 9)))
    alerts = stubbed(Echo({"e1": H, "e2": H, "e3": L})).run(events)

    assert len(alerts) == 1
    alert = alerts[0]
    assert (alert.actor, alert.detector) == ("ana", "echo")
    assert alert.severity == H  # the highest seen, not the latest
    assert alert.score == 60.0
    assert alert.events == ["e1", "e2", "e3"]
    assert alert.merchants == ["m-e1", "m-e2", "m-e3"]
    assert (alert.time_us, alert.last_us) == (us(at(0, 10)), us(at(1, 9)))
    assert alert.reasons == ["high at m-e2 (e2)"]  # the latest of the most severe
    assert alert.id.startswith("al-")


def test_a_more_severe_finding_raises_the_alert_and_its_reasons() -> None:
    events = views(("e1", "ana", at(0, 10)), ("e2", "ana", at(0, 11)), ("e3", "ana", at(0, 12)))
    [alert] = stubbed(Echo({"e1": M, "e2": C, "e3": M})).run(events)
    assert (alert.severity, alert.score, alert.reasons) == (C, 80.0, ["critical at m-e2 (e2)"])


def test_a_finding_after_the_window_opens_a_new_alert() -> None:
    events = views(("e1", "ana", at(0, 10)), ("e2", "ana", at(1, 10, 1)), ("e3", "ana", at(1, 12)))
    alerts = stubbed(Echo({"e1": L, "e2": H, "e3": M})).run(events)

    got = [(a.events, a.severity, a.time_us, a.last_us) for a in alerts]
    assert got == [
        (["e1"], L, us(at(0, 10)), us(at(0, 10))),
        (["e2", "e3"], H, us(at(1, 10, 1)), us(at(1, 12))),
    ]
    assert alerts[0].id != alerts[1].id


def test_the_window_is_fixed_from_the_first_finding() -> None:
    # Findings at 10:00, 20:00, then 09:00 and 11:00 the next day: each within 24 h of the one
    # before, but the last 25 h after the first, so it opens the next alert.
    times = [at(0, 10), at(0, 20), at(1, 9), at(1, 11)]
    specs = [(f"e{i}", "ana", when) for i, when in enumerate(times)]
    alerts = stubbed(Echo({f"e{i}": M for i in range(4)})).run(views(*specs))
    assert [a.events for a in alerts] == [["e0", "e1", "e2"], ["e3"]]
    assert [(a.time_us, a.last_us) for a in alerts] == [
        (us(times[0]), us(times[2])),
        (us(times[3]), us(times[3])),
    ]


@pytest.mark.parametrize(("hours", "count"), [(24.0, 1), (1.0, 2), (0.5, 3)])
def test_dedupe_window_is_configurable(hours: float, count: int) -> None:
    # Findings at 10:00, 10:40 and 12:10: 40 then 90 minutes apart.
    events = views(
        ("e1", "ana", at(0, 10)), ("e2", "ana", at(0, 10, 40)), ("e3", "ana", at(0, 12, 10))
    )
    alerts = stubbed(Echo({"e1": M, "e2": M, "e3": M}), dedupe_hours=hours).run(events)
    assert len(alerts) == count
    assert [e for a in alerts for e in a.events] == ["e1", "e2", "e3"]


def test_each_actor_and_detector_gets_its_own_alert() -> None:
    events = views(("e1", "ana", at(0, 10)), ("e2", "bob", at(0, 11)))
    alerts = stubbed(Echo({"e1": M, "e2": M}), Other({"e1": H})).run(events)
    assert sorted((a.actor, a.detector, a.severity) for a in alerts) == [
        ("ana", "echo", M),
        ("ana", "other", H),
        ("bob", "echo", M),
    ]
    assert len({a.id for a in alerts}) == 3


def test_two_findings_from_one_event_make_one_alert() -> None:
    [alert] = stubbed(Echo({"e1": M}, twice=True)).run(views(("e1", "ana", at(0, 10))))
    assert alert.events == ["e1"]
    assert alert.merchants == ["m-e1", "m-e1-b"]


def test_events_are_capped_at_200_and_merchants_at_1000() -> None:
    start = at(0, 8)
    specs = [(f"e{i}", "ana", start + dt.timedelta(seconds=20 * i)) for i in range(1010)]
    [alert] = stubbed(Echo({i: M for i, _, _ in specs})).run(views(*specs))
    assert alert.events == [f"e{i}" for i in range(200)]  # the first 200
    assert alert.merchants == [f"m-e{i}" for i in range(1000)]  # the first 1000
    assert alert.last_us == us(specs[-1][2])


def test_open_alerts_are_forgotten_after_the_window() -> None:
    engine = stubbed(Echo({"e1": M, "e3": M}))
    [first] = engine.run(views(("e1", "ana", at(0, 10))))
    assert list(engine.state.open_alerts) == ["ana|echo"]
    assert engine.run(views(("e2", "bob", at(1, 10, 1)))) == []  # a new day, 24 h 01 min later
    assert engine.state.open_alerts == {}
    [second] = engine.run(views(("e3", "ana", at(1, 11))))
    assert second.id != first.id
    assert second.events == ["e3"]


# -- ids ---------------------------------------------------------------------------------------


def test_ids_are_deterministic_across_runs(
    mixed: list[Event], whole: tuple[Engine, list[Alert]]
) -> None:
    again = Engine().run(mixed)
    assert snapshot(again) == snapshot(whole[1])
    assert [a.id for a in again] == [a.id for a in whole[1]]
    assert all(re.fullmatch(r"al-[0-9a-f]{16}", a.id) for a in again)
    assert len({a.id for a in again}) == len(again)


def test_ids_derive_from_detector_actor_and_trigger() -> None:
    def alert_id(detector: Echo, *specs: tuple[str, str, dt.datetime]) -> str:
        return stubbed(detector).run(views(*specs))[-1].id

    base = alert_id(Echo({"e1": M}), ("e1", "ana", at(0, 10)))
    # Other events before it, or another severity, change nothing.
    assert alert_id(Echo({"e1": H}), ("x", "bob", at(0, 9)), ("e1", "ana", at(0, 10))) == base
    # Another trigger, actor or detector does.
    others = {
        alert_id(Echo({"e2": M}), ("e2", "ana", at(0, 10))),
        alert_id(Echo({"e1": M}), ("e1", "bob", at(0, 10))),
        alert_id(Other({"e1": M}), ("e1", "ana", at(0, 10))),
    }
    assert len(others) == 3
    assert base not in others


# -- warm-up -----------------------------------------------------------------------------------


def test_emit_from_suppresses_earlier_findings() -> None:
    events = views(("e1", "ana", at(0, 10)), ("e2", "ana", at(2, 10)))
    full = stubbed(Echo({"e1": M, "e2": M})).run(events)
    warmed = stubbed(Echo({"e1": M, "e2": M})).run(events, emit_from_us=us(at(1, 0)))
    assert [a.events for a in full] == [["e1"], ["e2"]]
    assert warmed == [full[1]]


def test_emit_from_keeps_baselines_and_later_alerts(
    mixed: list[Event], whole: tuple[Engine, list[Alert]]
) -> None:
    since = us(at(6, 0))
    engine = Engine()
    later = engine.run(mixed, emit_from_us=since)
    assert later
    assert all(a.time_us >= since for a in later)
    # Everything but the open alerts was learned just as without ``emit_from_us``.
    full_engine, full = whole
    assert engine.state.context == full_engine.state.context

    by_id = {a.id: a for a in full}
    emitted = {a.id for a in later}
    # Alerts opened from `since` on are the same, ids included ...
    assert {i for i, a in by_id.items() if a.time_us >= since} <= emitted
    for alert in later:
        if alert.id in by_id:
            assert dataclasses.asdict(alert) == dataclasses.asdict(by_id[alert.id])
        else:
            # ... and an alert open across `since` starts again from its first later finding.
            opened_before = [a for a in full if a.time_us < since and alert.events[0] in a.events]
            assert len(opened_before) == 1, alert


# -- saved state -------------------------------------------------------------------------------


def _split(events: list[Event], alerts: list[Alert], where: str) -> int:
    if where == "mid-alert":  # between two findings of one alert
        raised = next(a for a in alerts if len(a.events) >= 2)
        return [e.id for e in events].index(raised.events[1])
    return {"first": 1, "third": len(events) // 3, "half": len(events) // 2}.get(
        where, len(events) - 1
    )


@pytest.mark.parametrize("where", ["first", "third", "half", "mid-alert", "last"])
def test_state_round_trip_equals_an_uninterrupted_run(
    mixed: list[Event], whole: tuple[Engine, list[Alert]], where: str
) -> None:
    whole_engine, whole_alerts = whole
    cut = _split(mixed, whole_alerts, where)

    before = Engine()
    alerts = snapshot(before.run(mixed[:cut]))
    blob = before.dump_state()
    assert isinstance(blob, bytes)
    after = Engine(None, Engine.load_state(blob))
    alerts |= snapshot(after.run(mixed[cut:]))  # changed alerts come back in their latest form

    assert alerts == snapshot(whole_alerts)
    assert Engine.load_state(after.dump_state()) == Engine.load_state(whole_engine.dump_state())


def test_state_round_trip_in_many_batches(
    mixed: list[Event], whole: tuple[Engine, list[Alert]]
) -> None:
    alerts: dict[str, dict[str, Any]] = {}
    blob = None
    for start in range(0, len(mixed), 700):
        engine = Engine(None, Engine.load_state(blob) if blob else None)
        alerts |= snapshot(engine.run(mixed[start : start + 700]))
        blob = engine.dump_state()
    assert alerts == snapshot(whole[1])


# -- configuration -----------------------------------------------------------------------------


def _toml(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "detect.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_from_toml_reads_thresholds_and_disables(
    tmp_path: Path, mixed: list[Event], whole: tuple[Engine, list[Alert]]
) -> None:
    path = _toml(
        tmp_path,
        """
        [detect]
        dedupe_hours = 12

        [detect.detectors.fake_tickets]
        max_minutes = 3

        [detect.detectors.export_after_notice]
        enabled = false
        """,
    )
    cfg = DetectConfig.from_toml(path)
    assert cfg.dedupe_hours == 12
    built = {d.name: d for d in cfg.build()}
    assert set(built) == set(DETECTORS) - {"export_after_notice"}
    assert built["fake_tickets"].config.model_dump()["max_minutes"] == 3
    assert Engine(cfg)._dedupe_us == 12 * HOUR

    assert "export_after_notice" in {a.detector for a in whole[1]}
    assert "export_after_notice" not in {a.detector for a in Engine(cfg).run(mixed)}


def test_from_toml_accepts_a_top_level_table(tmp_path: Path) -> None:
    path = _toml(tmp_path, "dedupe_hours = 6\n[detectors.fake_tickets]\nmax_minutes = 3\n")
    cfg = DetectConfig.from_toml(path)
    assert (cfg.dedupe_hours, cfg.detectors) == (6, {"fake_tickets": {"max_minutes": 3}})


def test_example_file_holds_the_defaults() -> None:
    # conf/detect.example.toml says "Every value shown is the built-in default".
    example = DetectConfig.from_toml(REPO / "conf" / "detect.example.toml")
    assert example.dedupe_hours == DetectConfig().dedupe_hours
    assert set(example.detectors) == set(DETECTORS)
    for detector in example.build():
        assert detector.config == type(detector).Config(), detector.name
        shown = set(example.detectors[detector.name])
        assert shown == set(type(detector).Config.model_fields), detector.name  # every field


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("[detect.detectors.nope]\nx = 1\n", ["unknown detector(s) nope", "known: "]),
        (
            "[detect.detectors.unjustified_access]\nbogus = 1\n",
            ["detectors.unjustified_access.bogus: Extra inputs are not permitted"],
        ),
        ("[detect.detectors.collusion]\nmin_shared = 1\n", ["detectors.collusion.min_shared: "]),
        (
            "[detect.detectors.breadth_volume]\nfactor = 'big'\n",
            ["detectors.breadth_volume.factor: "],
        ),
        ("[detect]\ndedupe_hour = 1\n", ["dedupe_hour: Extra inputs are not permitted"]),
        ("[detect]\ndedupe_hours = 0\n", ["dedupe_hours: "]),
        ("[detect\n", ["cannot read detection config"]),
    ],
    ids=[
        "unknown-detector",
        "unknown-field",
        "below-minimum",
        "wrong-type",
        "top-level",
        "zero",
        "syntax",
    ],
)
def test_from_toml_errors_name_the_file_and_the_field(
    tmp_path: Path, text: str, words: list[str]
) -> None:
    path = _toml(tmp_path, text)
    with pytest.raises(ConfigError) as caught:
        DetectConfig.from_toml(path)
    message = caught.value.diagnostics()
    assert str(path) in message
    assert "\n" not in message
    for word in words:
        assert word in message


def test_from_toml_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"cannot read detection config .*nope\.toml"):
        DetectConfig.from_toml(tmp_path / "nope.toml")


@pytest.mark.parametrize(
    ("detectors", "words"),
    [
        ({"nope": {}}, "unknown detector(s) nope"),
        ({"collusion": {"bogus": 1}}, "detectors.collusion.bogus"),
    ],
)
def test_engine_refuses_a_bad_config_with_config_error(
    detectors: dict[str, Any], words: str
) -> None:
    with pytest.raises(ConfigError) as caught:
        Engine(DetectConfig(detectors=detectors))
    assert words in str(caught.value)


# -- risk --------------------------------------------------------------------------------------


def alert(
    actor: str, severity: Severity, score: float, last: int, first: int | None = None
) -> Alert:
    """A stored alert as risk sees it."""
    return Alert(
        id=f"al-{next(_ids)}",
        actor=actor,
        detector="unjustified_access",
        time_us=last if first is None else first,
        last_us=last,
        severity=severity,
        score=score,
    )


NOW = us(at(30))


@pytest.mark.parametrize(
    ("severity", "score", "age_days", "risk"),
    [
        (Severity.MEDIUM, 60.0, 0, 60.0),
        (Severity.MEDIUM, 60.0, 7, 30.0),
        (Severity.MEDIUM, 60.0, 14, 15.0),
        (Severity.MEDIUM, 60.0, 3.5, 60.0 / 2**0.5),
        (Severity.LOW, 60.0, 0, 30.0),
        (Severity.HIGH, 60.0, 0, 90.0),
        (Severity.HIGH, 60.0, 7, 45.0),
        (Severity.CRITICAL, 60.0, 0, 100.0),  # 120, capped
        (Severity.MEDIUM, 60.0, -2, 60.0),  # an alert newer than "now" does not grow
    ],
)
def test_risk_halves_every_7_days_and_weights_severity(
    severity: Severity, score: float, age_days: float, risk: float
) -> None:
    found = risk_by_actor([alert("ana", severity, score, NOW - int(age_days * DAY))], NOW)
    assert found == {"ana": pytest.approx(risk)}


def test_risk_adds_up_per_actor_and_is_capped_at_100() -> None:
    alerts = [
        alert("ana", Severity.MEDIUM, 40.0, NOW),
        alert("ana", Severity.MEDIUM, 40.0, NOW - 7 * DAY),
        alert("bob", Severity.HIGH, 50.0, NOW),
        alert("bob", Severity.HIGH, 50.0, NOW - HOUR),
        alert("cy", Severity.LOW, 10.0, NOW - 70 * DAY),
    ]
    risk = risk_by_actor(alerts, NOW)
    assert risk.keys() == {"ana", "bob", "cy"}
    assert risk["ana"] == pytest.approx(60.0)
    assert risk["bob"] == 100.0
    assert 0 < risk["cy"] < 0.01


def test_risk_ages_from_the_latest_finding() -> None:
    # Opened a month ago, still being raised today: full weight.
    assert risk_by_actor([alert("ana", Severity.MEDIUM, 50.0, NOW, NOW - 30 * DAY)], NOW) == {
        "ana": pytest.approx(50.0)
    }
    assert risk_by_actor(
        [alert("ana", Severity.MEDIUM, 50.0, NOW - 2 * DAY)], NOW, half_life_days=2
    ) == {"ana": pytest.approx(25.0)}
    assert risk_by_actor([], NOW) == {}


def test_a_state_saved_before_the_hours_were_weighed_loads(mixed: list[Event]) -> None:
    """A saved state from before :data:`HOURS_HALF_LIFE`: whole counts by hour and no
    ``seen``. It loads, and what it counted is known (the hours' sum) until ``seen`` is kept."""
    engine = Engine()
    engine.run(mixed)
    state = msgspec.msgpack.decode(engine.dump_state())
    sums = {}
    for actor, saved in state["context"]["actors"].items():
        saved["hours"] = [round(h) for h in saved["hours"]]
        sums[actor] = sum(saved["hours"])
        del saved["seen"]
    old = Engine.load_state(msgspec.msgpack.encode(state))
    actors = old.context.actors
    assert sums and any(sums.values())
    assert {a: actors[a].hours_seen for a in sums} == sums
    assert {a: actors[a].seen for a in sums} == dict.fromkeys(sums, 0)
