"""``SentinelleHandler`` against Sentinelle's real API (uvicorn on loopback), on SQLite and
PostgreSQL: log records with ``sentinelle.*`` extras become access events in the ledger, the
rest pass untouched, nothing of the message reaches the ledger; sending happens in the
recorder's thread, never the app's; an unmappable record is a warning, never an exception;
when Sentinelle is down the events wait in the journal and arrive once it is back."""

from __future__ import annotations

import json
import logging
import logging.config
import secrets
import threading
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from kit_support import Sentinelle

from sentinelle.client import GuardClient
from sentinelle.client.logging import SentinelleHandler
from sentinelle.config import Settings
from sentinelle.errors import ConfigError

POLICY = Path(__file__).parents[2] / "conf" / "guard.example.toml"
VIEW = {
    "sentinelle.actor.id": "s-alice",
    "sentinelle.merchant": "m-1",
    "sentinelle.action": "view",
    "sentinelle.data": ["contact", "address"],
    "sentinelle.channel": "support_console",
    "sentinelle.customers": ["c-42"],
    "sentinelle.ticket": "T-1",
}


@pytest.fixture
def sentinelle(settings: Settings) -> Iterator[Sentinelle]:
    server = Sentinelle(settings, POLICY)
    server.start()
    try:
        yield server
    finally:
        if server.running:
            server.stop()


@pytest.fixture
def access_log() -> Iterator[logging.Logger]:
    """A logger of its own (handlers removed after the test), INFO and up, not propagated."""
    log = logging.getLogger(f"shop.access.{secrets.token_hex(4)}")
    log.setLevel(logging.INFO)
    log.propagate = False
    yield log
    for handler in list(log.handlers):
        log.removeHandler(handler)
        handler.close()


def _events(server: Sentinelle) -> list[dict[str, object]]:
    assert server.state is not None
    return [json.loads(r[-1]) for rows in server.state.store.iter_events() for r in rows]


def test_records_with_sentinelle_extras_become_access_events(
    sentinelle: Sentinelle, access_log: logging.Logger
) -> None:
    handler = SentinelleHandler(
        sentinelle.url,
        sentinelle.keys["ingest"],
        app="support-console",
        defaults={"sentinelle.actor.team": "tier1"},
        flush_interval=3600,
    )
    access_log.addHandler(handler)
    access_log.info(
        "%s opened Jane Doe's profile (jane@example.com)", "alice", extra={**VIEW, "email": "x"}
    )
    access_log.info("nothing about customers here")
    access_log.info(
        "exported",
        extra={
            "sentinelle.merchant": "m-1",
            "sentinelle.action": "export",
            "sentinelle.data": "contact,order_details",
            "sentinelle.resource.count": 300,
        },
    )
    handler.flush()
    events = {e["action"]: e for e in _events(sentinelle)}
    assert set(events) == {"view", "export"}
    view, export = events["view"], events["export"]
    assert str(view.pop("id")).startswith("log-") and view.pop("time")
    assert view == {
        "actor": {"id": "s-alice", "kind": "staff", "team": "tier1"},
        "merchant": "m-1",
        "action": "view",
        "data": ["contact", "address"],
        "channel": "support_console",
        "subjects": ["c-42"],
        "justification": {"ticket": "T-1"},
        "outcome": "allowed",
    }
    assert export["actor"] == {"id": "support-console", "kind": "app", "team": "tier1"}
    assert export["data"] == ["contact", "order_details"] and export["channel"] == "api"
    assert export["resource"] == {"count": 300}
    ledger = json.dumps(_events(sentinelle))
    assert "Jane" not in ledger and "jane@" not in ledger and handler.rejected == 0


def test_an_unmappable_record_is_a_warning_not_an_exception(
    sentinelle: Sentinelle, access_log: logging.Logger, caplog: pytest.LogCaptureFixture
) -> None:
    handler = SentinelleHandler(sentinelle.url, sentinelle.keys["ingest"], flush_interval=3600)
    access_log.addHandler(handler)
    with caplog.at_level(logging.WARNING, logger="sentinelle.client.logging"):
        access_log.info("oops", extra={**VIEW, "sentinelle.action": "peek"})
        access_log.info("typo", extra={**VIEW, "sentinelle.merchnat": "m-2"})
        access_log.info("fine", extra=VIEW)
    handler.flush()
    assert handler.rejected == 2
    warnings = [r.getMessage() for r in caplog.records]
    assert len(warnings) == 2
    assert "sentinelle.action: Invalid enum value 'peek'" in warnings[0]
    assert "sentinelle.merchnat: unknown attribute" in warnings[1]
    assert [e["action"] for e in _events(sentinelle)] == ["view"]


class Gated(httpx.BaseTransport):
    """Real HTTP, held until ``release`` is set; records the thread of each request."""

    def __init__(self) -> None:
        self.inner = httpx.HTTPTransport()
        self.release = threading.Event()
        self.entered = threading.Event()
        self.threads: list[str] = []

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        self.threads.append(threading.current_thread().name)
        self.entered.set()
        self.release.wait(30)
        return self.inner.handle_request(request)

    def close(self) -> None:
        self.inner.close()


def test_the_app_thread_never_sends(sentinelle: Sentinelle, access_log: logging.Logger) -> None:
    gate = Gated()
    client = GuardClient(
        sentinelle.url,
        sentinelle.keys["ingest"],
        events_transport=gate,
        batch_size=1,  # each event wakes the recorder's thread
        flush_interval=3600,
    )
    handler = SentinelleHandler(client=client)
    access_log.addHandler(handler)
    try:
        access_log.info("first", extra=VIEW)
        assert gate.entered.wait(30), "the recorder never sent"
        # The first batch is held in the transport; the app logs on regardless.
        for n in range(3):
            access_log.info("more", extra={**VIEW, "sentinelle.ticket": f"T-{n}"})
        assert threading.current_thread().name not in gate.threads
        gate.release.set()
        handler.flush()
    finally:
        gate.release.set()
        access_log.removeHandler(handler)
        handler.close()
        client.close()  # the app's own client: the handler leaves it open
    assert set(gate.threads) - {threading.current_thread().name} == {"sentinelle-recorder"}
    assert len(_events(sentinelle)) == 4


def test_down_then_back_the_journal_delivers_once(
    sentinelle: Sentinelle, tmp_path: Path, access_log: logging.Logger
) -> None:
    journal = tmp_path / "journal"
    options = {"flush_interval": 3600, "timeout": 0.5, "journal": journal}
    sentinelle.stop()
    handler = SentinelleHandler(sentinelle.url, sentinelle.keys["ingest"], **options)  # type: ignore[arg-type]
    access_log.addHandler(handler)
    access_log.info("while down", extra={**VIEW, "sentinelle.event_id": "acc-down-1"})
    handler.flush()  # unreachable: logged, kept
    access_log.removeHandler(handler)
    handler.close()  # not sent: journaled
    kept = [p for p in journal.iterdir() if p.suffix == ".ndjson"]
    assert len(kept) == 1 and "acc-down-1" in kept[0].read_text()
    sentinelle.start()
    again = SentinelleHandler(sentinelle.url, sentinelle.keys["ingest"], **options)  # type: ignore[arg-type]
    again.flush()  # sends the journal
    again.flush()
    again.close()
    assert [e["id"] for e in _events(sentinelle)] == ["acc-down-1"]
    assert not list(journal.glob("*.ndjson"))


def test_dict_config_and_bad_configurations(sentinelle: Sentinelle) -> None:
    name = f"shop.configured.{secrets.token_hex(4)}"
    logging.config.dictConfig(
        {
            "version": 1,
            "disable_existing_loggers": False,
            "handlers": {
                "sentinelle": {
                    "class": "sentinelle.client.logging.SentinelleHandler",
                    "base_url": sentinelle.url,
                    "api_key": sentinelle.keys["ingest"],
                    "app": "billing",
                    "flush_interval": 3600,
                }
            },
            "loggers": {name: {"handlers": ["sentinelle"], "level": "INFO", "propagate": False}},
        }
    )
    log = logging.getLogger(name)
    (handler,) = log.handlers
    try:
        log.info("billed", extra={**VIEW, "sentinelle.actor.id": "billing"})
        handler.flush()
    finally:
        log.removeHandler(handler)
        handler.close()
    assert [e["actor"] for e in _events(sentinelle)] == [{"id": "billing", "kind": "staff"}]
    with pytest.raises(ConfigError, match="either base_url and api_key, or a client"):
        SentinelleHandler()
    with pytest.raises(ConfigError, match="not a sentinelle"):
        SentinelleHandler(sentinelle.url, "k", defaults={"merchant": "m-1"})


def test_a_handler_closed_by_dict_config_still_records(
    sentinelle: Sentinelle, access_log: logging.Logger
) -> None:
    handler = SentinelleHandler(sentinelle.url, sentinelle.keys["ingest"], flush_interval=3600)
    access_log.addHandler(handler)
    access_log.info("before", extra={**VIEW, "sentinelle.event_id": "acc-before"})
    # Sent first: dictConfig() holds logging's lock while it closes handlers, and this server
    # runs in the test's own process, where answering needs that lock now and then.
    handler.flush()
    # As uvicorn does at start: dictConfig() flushes and closes every handler there is, while
    # the app's logger keeps this one attached.
    logging.config.dictConfig({"version": 1, "disable_existing_loggers": False})
    assert handler in access_log.handlers
    access_log.info("after", extra={**VIEW, "sentinelle.event_id": "acc-after"})
    handler.flush()
    assert sorted(str(e["id"]) for e in _events(sentinelle)) == ["acc-after", "acc-before"]
    assert handler.rejected == 0
