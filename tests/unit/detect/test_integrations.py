"""The detectors of apps and integrations (``sentinelle.detect.integrations``): each judges a
machine against its own history, says so in numbers, and stays silent while learning, on
gradual growth and on people.

Stories are built as event dicts with times we control, decoded as ingest decodes them and run
through the whole engine (every detector on, evidence grading on), so what is asserted is the
alert a responder would see.
"""

from __future__ import annotations

import datetime as dt
import itertools
import json
from collections.abc import Callable, Iterable, Iterator
from typing import Any

import pytest

from sentinelle.detect import Alert, DetectConfig, Engine, Severity
from sentinelle.detect.machines import network
from sentinelle.events import decode_event

T0 = dt.datetime(2026, 9, 7, tzinfo=dt.UTC)  # a Monday
_ids = itertools.count(1)
ORDERS = ["contact", "address", "order_details"]


def at(day: int, hour: int = 0, minute: int = 0) -> dt.datetime:
    return T0 + dt.timedelta(days=day, hours=hour, minutes=minute)


def call(
    when: dt.datetime,
    *,
    actor: str = "integration-erp",
    kind: str = "integration",
    records: int = 100,
    merchant: str = "m-1",
    data: list[str] | None = None,
    ip: str = "198.51.100.7",
    country: str = "FR",
    device: str | None = None,
    action: str = "view",
    id: str | None = None,
) -> dict[str, Any]:
    """One read through the API: an order list of ``records`` orders."""
    source: dict[str, str] = {"ip": ip, "country": country}
    if device is not None:
        source["device"] = device
    return {
        "id": id or f"e-{next(_ids)}",
        "time": when.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "actor": {"id": actor, "kind": kind},
        "action": action,
        "merchant": merchant,
        "resource": {"type": "order_list", "count": records},
        "subjects": [f"c-{i}" for i in range(min(records, 20))],
        "data": data or ORDERS,
        "channel": "integration",
        "source": source,
        "outcome": "allowed",
    }


def syncs(
    days: Iterable[int],
    *,
    every: int = 2,
    records: int | Callable[[int], float] = 500,
    **kw: Any,
) -> Iterator[dict[str, Any]]:
    """A scheduled integration: one pull every ``every`` hours at minute 10, ``records`` each
    (or ``records(day)`` when callable)."""
    for day in days:
        size = records if isinstance(records, int) else records(day)
        for hour in range(0, 24, every):
            yield call(at(day, hour, 10), records=int(size), **kw)


def daytime(
    days: Iterable[int], *, per_hour: int = 4, records: int = 20, **kw: Any
) -> Iterator[dict[str, Any]]:
    """An app following its shops' day: calls from 08:00 to 18:00 UTC only."""
    for day in days:
        for hour in range(8, 19):
            for k in range(per_hour):
                yield call(at(day, hour, 5 + 10 * k), records=records, **kw)


def run(events: Iterable[dict[str, Any]], config: DetectConfig | None = None) -> list[Alert]:
    stream = sorted(events, key=lambda e: e["time"])
    return Engine(config).run(decode_event(json.dumps(e)) for e in stream)


def machine_alerts(alerts: list[Alert]) -> list[Alert]:
    return [a for a in alerts if a.detector.startswith("integration_")]


def only(alerts: list[Alert], detector: str) -> Alert:
    found = [a for a in alerts if a.detector == detector]
    assert len(found) == 1, [(a.detector, a.reasons[0]) for a in alerts]
    return found[0]


# -- volume -----------------------------------------------------------------------------------


def test_a_tenfold_pull_raises_a_medium_alert_naming_its_numbers() -> None:
    story = [
        *syncs(range(14)),  # 12 pulls of 500 a day: 6,000 records
        call(at(14, 3, 30), records=54_000, id="pull"),  # the day reaches 60,000+
    ]
    alerts = machine_alerts(run(story))
    alert = only(alerts, "integration_volume")
    assert alert.actor == "integration-erp"
    assert alert.severity >= Severity.MEDIUM
    assert alert.events == ["pull"]
    reason = alert.reasons[0]
    assert "integration-erp read 54,000 records in the hour 03:00–04:00 UTC" in reason
    assert "usually 500 records" in reason and "108.0×" in reason
    assert "Evidence about integration-erp" in alert.reasons[1]
    assert [a.detector for a in alerts] == ["integration_volume"]  # 03:00 is its sync hour


def test_one_pull_is_one_alert_not_also_a_breadth_alert() -> None:
    # Machines are judged against their own history only: breadth_volume, which compares
    # people with their busiest day and their team, leaves them to integration_volume (it
    # used to raise a second alert, and a second piece of evidence, on the same pull).
    story = [*syncs(range(14)), call(at(14, 3, 30), records=54_000, id="pull")]
    assert [a.detector for a in run(story)] == ["integration_volume"]
    people = DetectConfig.model_validate(
        {"detectors": {"breadth_volume": {"kinds": ["staff", "integration"]}}}
    )
    assert "breadth_volume" in [a.detector for a in run(story, people)]


def test_a_day_of_ten_times_the_usual_alerts_on_the_day_figure() -> None:
    story = [*syncs(range(14)), *syncs([14], records=5000)]  # ten times each pull, all day
    alert = only(machine_alerts(run(story)), "integration_volume")
    assert alert.severity >= Severity.MEDIUM
    assert "in the last 24 hours" in alert.reasons[0] or "in the hour" in alert.reasons[0]
    assert "its usual is 6,000 records a day" in " ".join(alert.reasons) or (
        "usually 500 records" in alert.reasons[0]
    )


def test_gradual_growth_and_a_season_do_not_alert() -> None:
    """Four percent more a day for eight weeks (×9), then a sale week up to ×3."""
    peak = {50: 1.7, 51: 1.9, 52: 2.1, 53: 2.3, 54: 3.0, 55: 2.4, 56: 2.2, 57: 2.7}

    def size(day: int) -> float:
        return 50 * 1.04**day * peak.get(day, 1.0)

    alerts = machine_alerts(run(syncs(range(60), records=size)))
    assert alerts == []


def test_silent_while_learning() -> None:
    story = [*syncs(range(5)), call(at(5, 3, 30), records=60_000)]
    assert machine_alerts(run(story)) == []


@pytest.mark.parametrize(
    ("per_pull", "every", "burst"),
    [
        (1, 24, 100),  # a day of 1 record, then 100
        (40_000, 1, 4_000_000),  # about a million a day, then 4 million in one pull
    ],
    ids=["ten-a-day", "a-million-a-day"],
)
def test_sizes_far_apart_are_judged_alike(per_pull: int, every: int, burst: int) -> None:
    story = [*syncs(range(20), every=every, records=per_pull)]
    assert machine_alerts(run(story)) == []
    alert = only(
        machine_alerts(run([*story, call(at(20, 0, 30), records=burst)])), "integration_volume"
    )
    assert f"{burst:,}" in alert.reasons[0]


# -- odd hours --------------------------------------------------------------------------------


def test_a_bulk_pull_at_an_hour_it_is_idle() -> None:
    # 44 calls of 20 records between 08:00 and 19:00: 880 a day; at 03:00, 300 (34% of a day,
    # under 4× its busiest hour of 80)
    story = [*daytime(range(14), kind="app", actor="app-crm"), call(
        at(14, 3, 20), actor="app-crm", kind="app", records=300, id="night"
    )]  # fmt: skip
    alerts = machine_alerts(run(story))
    alert = only(alerts, "integration_odd_hours")
    assert alert.events == ["night"]
    reason = alert.reasons[0]
    assert "app-crm read 300 records in the hour 03:00–04:00 UTC, when it is almost idle" in reason
    assert "0.0% of its records" in reason and "a usual day is 880 records" in reason
    assert "34% of one" in reason
    assert "integration_volume" not in {a.detector for a in alerts}


def test_a_pull_next_to_its_usual_hours_is_not_odd() -> None:
    story = [*daytime(range(14), kind="app", actor="app-crm"),
             call(at(14, 19, 20), actor="app-crm", kind="app", records=400)]  # fmt: skip
    assert "integration_odd_hours" not in {a.detector for a in run(story)}


# -- novelty ----------------------------------------------------------------------------------


def test_a_new_sensitive_category_is_medium_with_what_it_read_before() -> None:
    story = [*syncs(range(10), every=6),
             call(at(10, 6, 10), data=["payment_full"], id="card")]  # fmt: skip
    alert = only(machine_alerts(run(story)), "integration_new_data")
    assert alert.severity == Severity.MEDIUM  # a high finding: one point of evidence
    assert alert.events == ["card"]
    reason = alert.reasons[0]
    assert "integration-erp read payment_full data for the first time (merchant m-1" in reason
    assert (
        "in its 10 active days since 2026-09-07 it read only address, contact, order_details"
        in (reason)
    )


def test_a_new_ordinary_category_is_low() -> None:
    story = [*syncs(range(10), every=6), call(at(10, 6, 10), data=["location"])]
    assert only(machine_alerts(run(story)), "integration_new_data").severity == Severity.LOW


def test_a_new_network() -> None:
    story = [*syncs(range(10), every=6),
             call(at(10, 6, 10), ip="203.0.113.9", id="moved")]  # fmt: skip
    alert = only(machine_alerts(run(story)), "integration_new_network")
    assert alert.events == ["moved"]
    assert alert.severity == Severity.LOW  # medium finding alone: low alert
    assert (
        "called from network 203.0.113.0/24 for the first time (merchant m-1); in its 10 active "
        "days it used 1 network(s) (198.51.100.0/24) from FR."
    ) in alert.reasons[0]


def test_a_new_network_in_a_new_country_with_a_pull_is_high() -> None:
    story = [*syncs(range(10), every=6),
             call(at(10, 6, 10), ip="203.0.113.9", country="BR", records=60_000)]  # fmt: skip
    alerts = machine_alerts(run(story))
    assert {a.detector for a in alerts} == {"integration_new_network", "integration_volume"}
    assert max(a.severity for a in alerts) >= Severity.HIGH  # the evidence adds up
    assert "in BR, a country new for it" in only(alerts, "integration_new_network").reasons[0]


def test_nothing_is_new_while_learning() -> None:
    story = [*syncs(range(3), every=6), call(at(3, 6, 10), data=["payment_full"], ip="203.0.113.9")]
    assert machine_alerts(run(story)) == []


def test_networks_that_always_change_are_not_news() -> None:
    story = [call(at(day, hour), ip=f"10.{day}.{hour}.1") for day in range(10) for hour in (0, 12)]
    story.append(call(at(10, 1), ip="203.0.113.9"))
    assert "integration_new_network" not in {a.detector for a in run(story)}


# -- two places -------------------------------------------------------------------------------


def test_one_token_from_two_places_at_once() -> None:
    story = [*syncs(range(10), every=6, device="tok-1"),
             call(at(10, 6, 10), device="tok-1"),
             call(at(10, 6, 14), device="tok-1", ip="203.0.113.9", country="BR",
                  id="copy")]  # fmt: skip
    alerts = machine_alerts(run(story))
    alert = only(alerts, "integration_two_places")
    assert alert.events == ["copy"]
    assert alert.severity >= Severity.HIGH  # a critical finding: two countries
    assert (
        "integration-erp's credential tok-1 was used from 203.0.113.0/24 (BR) and, 4 minute(s) "
        "earlier, from 198.51.100.0/24 (FR)"
    ) in alert.reasons[0]
    assert "on 0 day(s)" in alert.reasons[0]


def test_without_a_token_id_the_actor_is_the_credential() -> None:
    story = [*syncs(range(10), every=6),
             call(at(10, 6, 10)), call(at(10, 6, 12), ip="203.0.113.9")]  # fmt: skip
    reason = only(machine_alerts(run(story)), "integration_two_places").reasons[0]
    assert "credential (its actor id: the events name no token)" in reason


def test_a_pool_of_networks_is_learnt() -> None:
    # Every pull goes out through one of two egress networks, minutes apart: its usual.
    story = [
        call(at(day, hour, minute), ip=ip)
        for day in range(12)
        for hour in range(0, 24, 6)
        for minute, ip in ((10, "198.51.100.7"), (12, "192.0.2.7"))
    ]
    assert "integration_two_places" not in {a.detector for a in run(story)}


# -- people, state, configuration -------------------------------------------------------------


def test_staff_are_not_judged_as_machines() -> None:
    story = [*syncs(range(14), actor="agent-1", kind="staff"),
             call(at(14, 3, 30), actor="agent-1", kind="staff", data=["payment_full"],
                  ip="203.0.113.9", records=54_000)]  # fmt: skip
    assert machine_alerts(run(story)) == []


def test_kinds_are_configurable() -> None:
    story = [*syncs(range(14), kind="app"), call(at(14, 3, 30), kind="app", records=54_000)]
    config = DetectConfig(detectors={"integration_volume": {"kinds": ["integration"]}})
    assert machine_alerts(run(story, config)) == []
    assert machine_alerts(run(story))


def test_saved_state_carries_the_history_between_batches() -> None:
    story = sorted(
        [*syncs(range(14), device="tok-1"), call(at(14, 3, 30), records=54_000),
         call(at(14, 4, 10), device="tok-1"),
         call(at(14, 4, 15), data=["credentials"], ip="203.0.113.9", device="tok-1")],
        key=lambda e: e["time"],
    )  # fmt: skip
    events = [decode_event(json.dumps(e)) for e in story]
    whole = Engine().run(events)
    first = Engine()
    alerts = first.run(events[:100])
    second = Engine(state=Engine.load_state(first.dump_state()))
    alerts += second.run(events[100:])
    assert [a.to_dict() for a in alerts] == [a.to_dict() for a in whole]
    assert {a.detector for a in whole} >= {
        "integration_volume",
        "integration_new_data",
        "integration_two_places",
    }


def test_a_long_pull_is_reported_when_it_grows_not_on_every_call() -> None:
    pull = [call(at(14, 3, m), records=20_000) for m in range(0, 60, 2)]
    engine = Engine()
    engine.run(decode_event(json.dumps(e)) for e in syncs(range(14)))
    changed = 0
    for event in pull:
        alerts = engine.process(decode_event(json.dumps(event)))
        changed += sum(1 for a in alerts if a.detector == "integration_volume")
    assert 1 <= changed <= 3  # once per grade at most within the hour (medium, high, critical)


@pytest.mark.parametrize(
    ("ip", "net"),
    [
        ("198.51.100.7", "198.51.100.0/24"),
        ("2001:db8:1:2::5", "2001:db8:1::/48"),
        ("not an address", None),
    ],
)
def test_networks(ip: str, net: str | None) -> None:
    assert network(ip) == net
