"""Suspensions and their lifts go out (connectors §5), end to end through the API on both
stores: a high alert in a batch suspends its actor and the suspension reaches a real TCP syslog
server once; a responder's lift reaches it too, without the reason they typed; the message is
queued in the suspension's own transaction, so a queue that fails leaves no suspension behind
(the response is completed when the alert is raised again). After every batch, the 72-hour
deadline warnings that are due are queued, at the API's clock."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from test_api_guard import NOW, POLICY, Api, _make
from test_guard_response import _alerts, _denials

from outbound_receivers import SyslogReceiver
from sentinelle.api.main import create_app
from sentinelle.config import Settings
from sentinelle.connectors import outbound
from sentinelle.connectors.messages import DeadlineMessage, Stage
from sentinelle.errors import StoreError
from sentinelle.guard.policy import parse_policy
from sentinelle.guard.respond import respond
from sentinelle.response import ResponseEngine
from sentinelle.store import Store, open_store
from sentinelle.timeutil import HOUR, iso, now_us
from served import served


@pytest.fixture
def syslog() -> Iterator[SyslogReceiver]:
    found = SyslogReceiver("tcp").start()
    yield found
    found.close()


@pytest.fixture
def api(settings: Settings, tmp_path: Path, syslog: SyslogReceiver) -> Iterator[Api]:
    policy = tmp_path / "guard.toml"
    policy.write_text(POLICY)
    with_syslog = settings.model_copy(update={"alert_syslog": f"siem={syslog.url}"})
    yield from _make(with_syslog, policy)


def test_a_suspension_and_its_lift_reach_syslog_once(api: Api, syslog: SyslogReceiver) -> None:
    store, config = api.state.store, api.state.settings
    answer = api.post("/v1/events", _denials(6), key="admin")
    assert answer.status_code == 200, answer.text
    [suspended] = answer.json()["suspended"]
    outbound.deliver_due(store, config, NOW + HOUR)  # the background task ran at the wall clock
    again = api.post("/v1/events", _denials(8, prefix="e"), key="admin")
    assert again.json()["suspended"] == []
    lifted = api.post(
        "/v1/actors/agent-1/suspension/lift",
        {"reason": "checked with cust-77 herself"},
        key="responder",
    )
    assert lifted.status_code == 200, lifted.text
    outbound.deliver_due(store, config, NOW + 2 * HOUR)
    assert outbound.deliver_due(store, config, NOW + 3 * HOUR) == outbound.Delivered()
    assert syslog.wait_for(3)
    by_kind: dict[str, list[dict[str, str]]] = {}
    for m in syslog.messages():
        by_kind.setdefault(m.msgid, []).append(m.sd["sentinelle@32473"])
        assert "cust-77" not in m.msg
    [susp] = by_kind["suspended"]
    assert (susp["actor"], susp["alert"], susp["by"]) == (
        "agent-1",
        suspended["alert"],
        "sentinelle",
    )
    assert (susp["detector"], susp["severity"]) == ("probing", "high")
    [lift] = by_kind["lifted"]
    assert (lift["actor"], lift["by"], lift["alert"]) == ("agent-1", "key:resp", suspended["alert"])
    assert [a["alert"] for a in by_kind["alert"]] == [suspended["alert"]]
    kinds = sorted(r.kind for r in store.deliveries())
    assert kinds == ["alert", "lifted", "suspended"]
    metrics = api.client.get("/metrics", headers={"Authorization": f"Bearer {api.keys['admin']}"})
    assert metrics.status_code == 200
    for kind in kinds:
        labels = f'destination="siem",kind="{kind}",state="delivered"'
        line = f"sentinelle_outbound_deliveries{{{labels}}} 1.0"
        assert line in metrics.text.splitlines()
    assert syslog.url not in metrics.text


def test_a_failing_queue_leaves_no_suspension_and_the_next_run_completes_it(
    settings: Settings, syslog: SyslogReceiver
) -> None:
    # No guard policy behind the API: the batch raises the alert, and the response is run here.
    with_syslog = settings.model_copy(update={"alert_syslog": f"siem={syslog.url}"})
    for api in _make(with_syslog, None):
        state = api.state
        assert api.post("/v1/events", _denials(6), key="admin").status_code == 200
        alert = _alerts(api)["probing"]
        policy = parse_policy(POLICY)

        def failing(*_: object) -> None:
            raise StoreError("the database went away")

        done = respond(
            state.store, state.ledger, state.engine, policy, [alert], now_us=NOW, also=failing
        )
        assert done.suspended == [] and "the automatic response failed" in done.notes[0]
        assert state.store.suspension(alert.actor) is None  # rolled back with the queue
        assert [r.kind for r in state.store.deliveries()] == ["alert"]  # queued by detection
        hook = outbound.guard_hook(state.store, state.settings)
        again = respond(
            state.store, state.ledger, state.engine, policy, [alert], now_us=NOW, also=hook
        )
        assert [s.actor for s in again.suspended] == [alert.actor]
        assert sorted(r.kind for r in state.store.deliveries()) == ["alert", "suspended"]


def _assessed(store: Store, aware: int) -> str:
    """An incident assessed as needing the authority's notice, the organisation aware of it
    at ``aware``; its id."""
    engine = ResponseEngine(store)
    incident = engine.open(title="harvest", by="dpo", actors=["agent-1"], from_us=0).id
    facts = {
        "aware_at": iso(aware),
        "breach_types": ["confidentiality"],
        "data_categories": ["contact"],
        "subjects": {"count": 40, "approximate": True},
        "records": 40,
    }
    engine.assess(incident, by="dpo", given=facts, now=aware + HOUR)
    return incident


def test_a_batch_queues_the_deadline_warnings_due_at_the_apis_clock(api: Api) -> None:
    store = api.state.store
    incident = _assessed(store, NOW - 70 * HOUR)  # 2 hours left at the API's clock
    assert api.post("/v1/events", [], key="admin").status_code == 200
    [row] = [r for r in store.deliveries() if r.kind == "deadline"]
    assert row.message == DeadlineMessage.id_for(incident, Stage.HOURS_6)
    assert row.destination == "siem" and f'"at_us": {NOW}' in (row.facts or "")
    assert api.post("/v1/events", [], key="admin").status_code == 200  # checked again
    assert len([r for r in store.deliveries() if r.kind == "deadline"]) == 1


def test_the_server_sends_out_on_its_own_with_no_batch(
    settings: Settings, syslog: SyslogReceiver
) -> None:
    # A deadline that falls due while no events arrive reaches the destinations by the
    # server's own rounds (outbound_every), through a real uvicorn.
    config = settings.model_copy(
        update={"alert_syslog": f"siem={syslog.url}", "outbound_every": 0.2}
    )
    aware = now_us() - 70 * HOUR  # 2 hours left: the 6-hour warning is due
    with open_store(config) as store:
        _assessed(store, aware)
    with served(create_app(config), what="the API"):
        assert syslog.wait_for(1), "no deadline warning reached syslog"
    [message] = syslog.messages()
    assert message.msgid == "deadline"
    assert message.sd["sentinelle@32473"]["stage"] == "6h"
    with open_store(config, create=False) as store:
        assert [(r.kind, r.state) for r in store.deliveries()] == [("deadline", "delivered")]


def test_no_rounds_when_turned_off(settings: Settings, syslog: SyslogReceiver) -> None:
    config = settings.model_copy(update={"alert_syslog": f"siem={syslog.url}", "outbound_every": 0})
    aware = now_us() - 70 * HOUR
    with open_store(config) as store:
        _assessed(store, aware)
    with served(create_app(config), what="the API"):
        assert not syslog.wait_for(1, timeout=1.0)
