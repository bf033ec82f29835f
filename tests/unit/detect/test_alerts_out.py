"""Alerts out to webhooks (connectors §5), on both stores, with a real HTTP receiver on
loopback: a medium+ alert from POST /v1/events reaches the JSON webhook once, signed, as an
OCSF Detection Finding; detecting or ingesting again sends nothing more; a failure is retried
with backoff and then delivered once, or given up after the last attempt; low alerts stay
home; Slack-compatible webhooks get one line; bad settings are refused by name.

The story is test_triage's: ana's unjustified customer lists of three merchants, moved to the
wall clock so that live detection behind the API raises the alert.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json
import re
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
from click.testing import CliRunner
from fastapi.testclient import TestClient
from test_detectors import LIST
from test_triage import day0_ending

from outbound_receivers import HttpReceiver
from sentinelle.access.accounts import create_key
from sentinelle.api.main import create_app
from sentinelle.cli import cli_group
from sentinelle.cli.app import App
from sentinelle.config import Settings
from sentinelle.connectors import outbound
from sentinelle.connectors.messages import AlertMessage
from sentinelle.detect import Alert, DetectionRunner, Severity
from sentinelle.detect.runner import alert_row
from sentinelle.errors import ConfigError, StoreError
from sentinelle.store import Store, open_store
from sentinelle.store.deliveries import DeliveryRow, DeliveryState
from sentinelle.timeutil import now_us

SECRET = "a-webhook-key-of-32-characters!!"  # noqa: S105 - a test key
SECOND = 1_000_000


@pytest.fixture
def receiver() -> Iterator[HttpReceiver]:
    found = HttpReceiver().start()
    yield found
    found.close()


def with_hooks(
    settings: Settings, hooks: str, secret: str | None = SECRET, detect_config: Path | None = None
) -> Settings:
    return Settings(
        _env_file=None,
        data_dir=settings.data_dir,
        database_url=settings.database_url,
        alert_webhooks=hooks,
        alert_webhook_secret=secret,
        detect_config=detect_config,
    )


@pytest.fixture
def store(settings: Settings) -> Iterator[Store]:
    found = open_store(settings)
    yield found
    found.close()


def alert(id: str, severity: Severity) -> Alert:
    return Alert(
        id=id,
        actor="ana",
        detector="unjustified_access",
        time_us=1_700_000_000 * SECOND,
        last_us=1_700_000_060 * SECOND,
        severity=severity,
        score=71.5,
        merchants=["m1", "m2"],
        events=["e1"],
        reasons=["ana listed customers of 3 merchants without a ticket.", "Usual: 1 a day."],
    )


def stored(store: Store, *alerts: Alert) -> list[Alert]:
    with store.writer() as w:
        w.upsert_alerts([alert_row(a) for a in alerts])
    return list(alerts)


# -- the API: exactly once -------------------------------------------------------------------


def story(
    settings: Settings, receiver: HttpReceiver, tmp_path: Path
) -> tuple[Settings, list[dict[str, Any]]]:
    """Settings with the receiver as JSON webhook ``soc``, and the story's events, ending two
    hours ago (live detection processes them at once; see :func:`day0_ending`)."""
    # Each detector's own severity (medium for the story), not the evidence's adjustment of it.
    config = tmp_path / "detect.toml"
    config.write_text("[evidence]\nenabled = false\n")
    hooked = with_hooks(settings, f"soc={receiver.url()}", detect_config=config)
    now = dt.datetime.fromtimestamp(now_us() // SECOND, tz=dt.UTC)
    return hooked, day0_ending(now - dt.timedelta(hours=2))


@contextmanager
def serving(hooked: Settings) -> Iterator[tuple[TestClient, Store, dict[str, str]]]:
    """The API on these settings: its client, its store and an ingest key's header."""
    app = create_app(hooked)
    store = app.state.sentinelle.store
    with TestClient(app) as client:
        yield client, store, {"Authorization": f"Bearer {create_key(store, name='in', by='t')}"}


def test_a_medium_alert_from_the_api_reaches_the_webhook_exactly_once(
    settings: Settings, receiver: HttpReceiver, tmp_path: Path
) -> None:
    hooked, events = story(settings, receiver, tmp_path)
    with serving(hooked) as (client, store, ingest):
        answer = client.post("/v1/events", json=events, headers=ingest)
        assert answer.status_code == 200, answer.text
        assert answer.json()["alerts_medium_plus"] >= 1
        medium = [a for a in DetectionRunner(store).alerts() if a.severity >= Severity.MEDIUM]
        # The background task ran after the answer; the webhook has each alert once.
        assert sorted(receiver.keys()) == sorted(f"{a.id}:soc" for a in medium)
        # Sent again (duplicates), then detection over it again: nothing new goes out.
        assert client.post("/v1/events", json=events, headers=ingest).json()["duplicates"]
        DetectionRunner(store).catch_up()
        assert outbound.deliver_due(store, hooked, now_us() + 3600 * SECOND) == (
            outbound.Delivered()
        )
        assert len(receiver.requests) == len(medium)
        rows = store.deliveries()
        assert [(r.message, r.state, r.attempts) for r in rows] == [
            (a.id, DeliveryState.DELIVERED, 1) for a in sorted(medium, key=lambda a: a.id)
        ]
    by_id = {a.id: a for a in medium}
    for headers, body in receiver.requests:
        expected = "sha256=" + hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()
        assert hmac.compare_digest(headers["x-sentinelle-signature"], expected)
        finding = json.loads(body)
        sent = by_id[finding["finding_info"]["uid"]]
        assert headers["x-sentinelle-delivery"] == f"{sent.id}:soc"
        assert (finding["class_uid"], finding["category_uid"], finding["activity_id"]) == (
            2004,
            2,
            1,
        )
        assert finding["severity_id"] == {2: 3, 3: 4, 4: 5}[int(sent.severity)]
        assert finding["time"] == sent.time_us // 1000
        assert finding["actor"] == {"user": {"uid": sent.actor}}
        assert finding["finding_info"]["types"] == [sent.detector]
        assert finding["finding_info"]["desc"] == " ".join(sent.reasons)
        assert finding["metadata"] == {
            "product": {"name": "Sentinelle", "vendor_name": "Sentinelle"},
            "version": "1.1.0",
        }
        assert finding["unmapped"]["merchants"] == sent.merchants
        # Identifiers only: none of the customers viewed (the events' subjects) is in it.
        assert not set(LIST["subjects"]) & set(re.findall(r"\w+", body.decode()))


def test_a_failing_webhook_never_fails_the_ingest_answer(
    settings: Settings, receiver: HttpReceiver, tmp_path: Path
) -> None:
    hooked, events = story(settings, receiver, tmp_path)
    receiver.statuses = [500] * 20
    with serving(hooked) as (client, store, ingest):
        answer = client.post("/v1/events", json=events, headers=ingest)
        assert answer.status_code == 200, answer.text
        assert answer.json()["stored"] == len(events)
        rows = store.deliveries()
    assert rows
    assert len(receiver.requests) == len(rows)
    assert {(r.state, r.attempts, r.last_error) for r in rows} == {
        (DeliveryState.PENDING, 1, "HTTP 500")
    }


# -- the queue: once per alert and destination, retries, giving up ---------------------------


def test_each_medium_alert_is_queued_once_per_destination_and_low_ones_never(
    settings: Settings, store: Store, receiver: HttpReceiver
) -> None:
    hooked = with_hooks(settings, f"soc={receiver.url()}, chat=slack:{receiver.url('/chat')}")
    found = stored(store, alert("low", Severity.LOW), alert("med", Severity.MEDIUM))
    assert outbound.enqueue(store, hooked, found, now_us=1) == 2
    assert outbound.enqueue(store, hooked, found, now_us=2) == 0  # detected again
    assert [(r.message, r.destination) for r in store.deliveries()] == [
        ("med", "chat"),
        ("med", "soc"),
    ]
    assert outbound.deliver_due(store, hooked, 5 * SECOND) == outbound.Delivered(delivered=2)
    assert sorted(receiver.keys()) == ["med:chat", "med:soc"]


def test_a_failure_is_retried_after_its_backoff_and_then_delivered_once(
    settings: Settings, store: Store, receiver: HttpReceiver
) -> None:
    hooked = with_hooks(settings, f"soc={receiver.url()}")
    start = 1_000 * SECOND
    outbound.enqueue(store, hooked, stored(store, alert("a1", Severity.HIGH)), now_us=start)
    receiver.statuses = [500]
    assert outbound.deliver_due(store, hooked, start) == outbound.Delivered(retrying=1)
    [row] = store.deliveries("a1")
    assert (row.state, row.attempts, row.last_error) == (DeliveryState.PENDING, 1, "HTTP 500")
    assert start + 2 * SECOND <= row.next_at_us <= start + 2 * SECOND + SECOND // 5
    # Not due yet: nothing sent.
    assert outbound.deliver_due(store, hooked, start + SECOND) == outbound.Delivered()
    assert len(receiver.requests) == 1
    later = start + 3 * SECOND
    assert outbound.deliver_due(store, hooked, later) == outbound.Delivered(delivered=1)
    assert outbound.deliver_due(store, hooked, later + 86_400 * SECOND) == outbound.Delivered()
    assert receiver.keys() == ["a1:soc", "a1:soc"]  # the same idempotency key both times
    [row] = store.deliveries("a1")
    assert (row.state, row.attempts, row.delivered_us) == (DeliveryState.DELIVERED, 2, later)


def test_a_webhook_that_keeps_failing_is_given_up_after_ten_attempts(
    settings: Settings, store: Store, receiver: HttpReceiver
) -> None:
    hooked = with_hooks(settings, f"soc={receiver.url()}")
    outbound.enqueue(store, hooked, stored(store, alert("a1", Severity.CRITICAL)), now_us=0)
    receiver.statuses = [503] * 20
    when = 0
    for attempt in range(1, outbound.MAX_ATTEMPTS + 1):
        done = outbound.deliver_due(store, hooked, when)
        assert done == (
            outbound.Delivered(failed=1)
            if attempt == outbound.MAX_ATTEMPTS
            else outbound.Delivered(retrying=1)
        )
        when += 2 * 3600 * SECOND
    assert outbound.deliver_due(store, hooked, when) == outbound.Delivered()
    assert len(receiver.requests) == outbound.MAX_ATTEMPTS
    [row] = store.deliveries()
    assert (row.state, row.attempts, row.last_error) == (DeliveryState.FAILED, 10, "HTTP 503")


def test_an_unreachable_webhook_records_the_error_type_never_the_url(
    settings: Settings, store: Store, receiver: HttpReceiver
) -> None:
    # A port nothing listens on (the receiver's, once closed would race): port 9 (discard).
    hooked = with_hooks(settings, "soc=http://127.0.0.1:9/hook?token=SEKRIT")
    outbound.enqueue(store, hooked, stored(store, alert("a1", Severity.MEDIUM)), now_us=0)
    assert outbound.deliver_due(store, hooked, 0) == outbound.Delivered(retrying=1)
    [row] = store.deliveries()
    assert row.last_error == "ConnectError"


def test_a_run_never_sends_a_row_another_run_holds(
    settings: Settings, store: Store, receiver: HttpReceiver
) -> None:
    hooked = with_hooks(settings, f"soc={receiver.url()}")
    outbound.enqueue(store, hooked, stored(store, alert("a1", Severity.MEDIUM)), now_us=0)
    with store.writer() as w:  # another process claimed it and is sending it
        [held] = w.claim_deliveries(now_us=0, lease_us=60 * SECOND, limit=10)
    assert held.state == DeliveryState.SENDING
    assert outbound.deliver_due(store, hooked, 30 * SECOND) == outbound.Delivered()
    assert receiver.requests == []
    # That process died: after its lease the row is sent again, with the same key.
    assert outbound.deliver_due(store, hooked, 61 * SECOND) == outbound.Delivered(delivered=1)
    assert receiver.keys() == ["a1:soc"]


def test_a_message_that_cannot_be_sent_is_an_attempt_failed_and_the_run_goes_on(
    settings: Settings, store: Store, receiver: HttpReceiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Whatever goes wrong with one row (here a bug building its body) is that row's attempt
    # failed, recorded by type: the others of the run are sent, and it is given up after the
    # last attempt rather than left "sending" and failing every run.
    hooked = with_hooks(settings, f"soc={receiver.url()}")
    alerts = stored(store, alert("a1", Severity.HIGH), alert("a2", Severity.HIGH))
    outbound.enqueue(store, hooked, alerts, now_us=0)
    built = AlertMessage.ocsf

    def ocsf(self: AlertMessage) -> dict[str, Any]:
        if self.alert.id == "a1":
            raise RuntimeError("a bug")
        return built(self)

    monkeypatch.setattr(AlertMessage, "ocsf", ocsf)
    assert outbound.deliver_due(store, hooked, 0) == outbound.Delivered(delivered=1, retrying=1)
    assert receiver.keys() == ["a2:soc"]
    [row] = store.deliveries("a1")
    assert (row.state, row.attempts, row.last_error) == (DeliveryState.PENDING, 1, "RuntimeError")


def test_a_long_run_holds_each_row_for_the_lease_from_its_own_claim(
    settings: Settings, store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A run that has been sending for 400 s claims its 11th row then: another deliverer,
    # 401 s after the run began, must find it held (5 minutes from that claim), not send it too.
    hooked = with_hooks(settings, "soc=https://siem.example/hook")
    alerts = stored(store, *(alert(f"a{i:02d}", Severity.HIGH) for i in range(11)))
    outbound.enqueue(store, hooked, alerts, now_us=0)
    elapsed = [0.0]
    monkeypatch.setattr(outbound, "_monotonic", lambda: elapsed[0])
    keys: list[str] = []
    meanwhile: list[outbound.Delivered] = []

    def answer(request: httpx.Request) -> httpx.Response:
        keys.append(request.headers[outbound.DELIVERY_HEADER])
        elapsed[0] += 40.0  # a slow receiver: 40 s a message
        if len(keys) == 11:
            with open_store(hooked, create=False) as other:
                meanwhile.append(outbound.deliver_due(other, hooked, 401 * SECOND, client=http))
        return httpx.Response(200)

    http = httpx.Client(transport=httpx.MockTransport(answer))
    assert outbound.deliver_due(store, hooked, 0, client=http) == outbound.Delivered(delivered=11)
    assert meanwhile == [outbound.Delivered()]
    assert sorted(keys) == sorted(f"{a.id}:soc" for a in alerts)  # each once


# -- bodies -----------------------------------------------------------------------------------


def test_a_slack_webhook_gets_one_plain_line_unsigned(
    settings: Settings, store: Store, receiver: HttpReceiver
) -> None:
    hooked = with_hooks(settings, f"chat=slack:{receiver.url()}", secret=None)
    sent = stored(store, alert("a1", Severity.HIGH))
    outbound.enqueue(store, hooked, sent, now_us=0)
    assert outbound.deliver_due(store, hooked, 0) == outbound.Delivered(delivered=1)
    [(headers, body)] = receiver.requests
    assert json.loads(body) == {
        "text": "Sentinelle HIGH alert: ana (unjustified_access): ana listed customers of 3 "
        "merchants without a ticket. [alert a1]"
    }
    assert "x-sentinelle-signature" not in headers
    assert headers["x-sentinelle-delivery"] == "a1:chat"


# -- the CLI -----------------------------------------------------------------------------------


def cli_env(monkeypatch: pytest.MonkeyPatch, hooked: Settings) -> None:
    """The CLI's environment: ``hooked``'s store, webhooks, secret and detection config."""
    monkeypatch.setenv("SENTINELLE_DATA_DIR", str(hooked.data_dir))
    if hooked.database_url:
        monkeypatch.setenv("SENTINELLE_DATABASE_URL", hooked.database_url)
    if hooked.detect_config:
        monkeypatch.setenv("SENTINELLE_DETECT_CONFIG", str(hooked.detect_config))
    monkeypatch.setenv("SENTINELLE_ALERT_WEBHOOKS", hooked.alert_webhooks)
    monkeypatch.setenv("SENTINELLE_ALERT_WEBHOOK_SECRET", SECRET)


def test_the_cli_delivers_after_ingest(
    settings: Settings, receiver: HttpReceiver, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    hooked, events = story(settings, receiver, tmp_path)
    cli_env(monkeypatch, hooked)
    lines = tmp_path / "events.jsonl"
    lines.write_text("".join(json.dumps(e) + "\n" for e in events))
    result = CliRunner().invoke(cli_group, ["ingest", str(lines), "--json"])
    assert result.exit_code == 0, result.output
    answer = json.loads(result.output)
    assert answer["alerts_medium_plus"] >= 1
    with open_store(hooked) as store:
        medium = [a for a in DetectionRunner(store).alerts() if a.severity >= Severity.MEDIUM]
    assert answer["webhooks"] == {
        "delivered": len(medium),
        "retrying": 0,
        "failed": 0,
        "obsolete": 0,
    }
    assert sorted(receiver.keys()) == sorted(f"{a.id}:soc" for a in medium)


def test_the_cli_delivers_on_demand(
    settings: Settings, receiver: HttpReceiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    hooked = with_hooks(settings, f"soc={receiver.url()}")
    with open_store(hooked) as store:
        sent = stored(store, alert("a1", Severity.MEDIUM))
        outbound.enqueue(store, hooked, sent, now_us=0)
    cli_env(monkeypatch, hooked)
    receiver.statuses = [502]
    result = CliRunner().invoke(cli_group, ["alerts", "deliver"])
    assert result.exit_code == 0, result.output
    assert result.output == "delivered 0, to retry 1, failed 0\n"
    with open_store(hooked) as store, store.writer() as w:  # due again now
        w._x("UPDATE outbound_deliveries SET next_at_us = 0")
    result = CliRunner().invoke(cli_group, ["alerts", "deliver", "--json"])
    assert json.loads(result.output) == {
        "delivered": 1,
        "retrying": 0,
        "failed": 0,
        "obsolete": 0,
        "deadline_warnings_queued": 0,
    }
    assert receiver.keys() == ["a1:soc", "a1:soc"]


# -- settings ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("env", "message"),
    [
        (
            {"SENTINELLE_ALERT_WEBHOOKS": "soc=https://siem.example/h"},
            "SENTINELLE_ALERT_WEBHOOK_SECRET: Value error, required",
        ),
        (
            {
                "SENTINELLE_ALERT_WEBHOOKS": "chat=slack:https://h.example/x",
                **{"SENTINELLE_ALERT_WEBHOOK_SECRET": "short"},
            },
            "SENTINELLE_ALERT_WEBHOOK_SECRET: Value error, must be at least 16 characters",
        ),
        (
            {"SENTINELLE_ALERT_WEBHOOKS": "soc=ftp://siem.example/h?token=SEKRIT"},
            "SENTINELLE_ALERT_WEBHOOKS: Value error, alert_webhooks item 'soc': the URL must "
            "be http:// or https://",
        ),
        (
            {"SENTINELLE_ALERT_WEBHOOKS": "https://siem.example/h?token=SEKRIT"},
            "is not NAME=URL",
        ),
        (
            {"SENTINELLE_ALERT_WEBHOOKS": "a=http://x.example/1 a=slack:http://x.example/2"},
            "lists the name a twice",
        ),
    ],
)
def test_bad_webhook_settings_are_refused_by_name(
    env: dict[str, str], message: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    with pytest.raises(ConfigError) as raised:
        App.from_env(data_dir=tmp_path)
    assert message in raised.value.diagnostics()
    assert "SEKRIT" not in raised.value.diagnostics()  # a URL's token is never echoed


def test_webhooks_are_optional_and_slack_alone_needs_no_secret() -> None:
    assert Settings(_env_file=None).alert_webhooks == ""
    only_slack = Settings(_env_file=None, alert_webhooks="chat=slack:https://h.example/T/B/x")
    assert [h.slack for h in outbound.parse_webhooks(only_slack.alert_webhooks)] == [True]
    assert "h.example" not in repr(only_slack)


def test_alerts_are_queued_in_detections_own_transaction(
    settings: Settings, receiver: HttpReceiver, tmp_path: Path
) -> None:
    """An alert is queued exactly when it is stored: the queue is written in live detection's
    transaction, so when queueing fails neither the alerts nor the moved cursor are kept, and
    the next run raises and queues them."""
    from sentinelle.detect import DetectConfig
    from sentinelle.ingest import Ingestor
    from sentinelle.ledger.log import Ledger
    from sentinelle.store import Writer

    hooked, events = story(settings, receiver, tmp_path)
    config = DetectConfig.from_settings(hooked)
    store = open_store(hooked)
    try:
        ledger = Ledger.open(store, data_dir=hooked.data_dir, origin=hooked.log_origin)
        Ingestor(store, ledger).ingest(
            [(i, json.dumps(e)) for i, e in enumerate(events)], unit="index"
        )
        offered: list[int] = []

        def failing(w: Writer, alerts: list[Alert]) -> None:
            offered.append(len(alerts))
            raise StoreError("the database went away")

        assert DetectionRunner(store, config, also=failing).catch_up() == []
        assert offered and offered[0] > 0  # it was asked, with the alerts, and failed
        assert DetectionRunner(store).alerts() == [] and store.deliveries() == []
        queued: list[int] = []

        def queue(w: Writer, alerts: list[Alert]) -> None:
            queued.append(outbound.queue(w, hooked, alerts, now_us=0))

        found = DetectionRunner(store, config, also=queue).catch_up()
        medium = sorted(a.id for a in found if a.severity >= Severity.MEDIUM)
        assert medium and queued == [len(medium)]
        assert sorted(r.message for r in store.deliveries()) == medium
    finally:
        store.close()


def test_a_process_without_a_destination_leaves_its_rows_to_one_that_has_it(
    settings: Settings, store: Store, receiver: HttpReceiver
) -> None:
    # An ingest or a cron run configured without one of the destinations must not spend
    # that destination's attempts ("not configured") until its rows fail for good.
    both = with_hooks(settings, f"soc={receiver.url()} ops={receiver.url()}")
    outbound.enqueue(store, both, stored(store, alert("a1", Severity.HIGH)), now_us=0)
    only_soc = with_hooks(settings, f"soc={receiver.url()}")
    for when in range(0, 24 * 3600, 3600):
        outbound.deliver_due(store, only_soc, when * SECOND)
    states = {r.destination: (r.state, r.attempts) for r in store.deliveries()}
    assert states == {"soc": (DeliveryState.DELIVERED, 1), "ops": (DeliveryState.PENDING, 0)}
    assert outbound.deliver_due(store, both, 24 * 3600 * SECOND) == outbound.Delivered(delivered=1)
    assert sorted(receiver.keys()) == ["a1:ops", "a1:soc"]


def test_a_run_whose_hold_ended_records_nothing_over_the_run_that_claimed_it_again(
    settings: Settings, store: Store
) -> None:
    hooked = with_hooks(settings, "soc=http://127.0.0.1:9/hook")
    outbound.enqueue(store, hooked, stored(store, alert("a1", Severity.MEDIUM)), now_us=0)
    with store.writer() as w:  # a slow run claims it; its hold ends, another run claims it
        [first] = w.claim_deliveries(now_us=0, lease_us=60 * SECOND, limit=10)
        [second] = w.claim_deliveries(now_us=61 * SECOND, lease_us=60 * SECOND, limit=10)
    assert (first.attempts, second.attempts) == (1, 2)

    def finish(row: DeliveryRow, state: DeliveryState) -> bool:
        with store.writer() as w:
            return w.finish_delivery(
                row.message, row.destination, state=state, last_error=None,
                next_at_us=0, delivered_us=None, attempts=row.attempts,
            )  # fmt: skip

    # The slow run's outcome comes in while the other still sends: it records nothing ...
    assert finish(first, DeliveryState.FAILED) is False
    assert store.deliveries()[0].state == DeliveryState.SENDING
    # ... and the run holding the row records its own.
    assert finish(second, DeliveryState.DELIVERED) is True
    assert store.deliveries()[0].state == DeliveryState.DELIVERED
