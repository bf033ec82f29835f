"""The client kit on a fake transport (httpx.MockTransport): retries and request ids, fail
modes, the recorder's batches, retries, queue bound and journal, and the ASGI guard's masking
and refusals. The real API is in tests/e2e/test_client_kit.py and test_example_console.py."""

from __future__ import annotations

import importlib
import json
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

import sentinelle.client as kit
from sentinelle.client import (
    OPEN_REASON,
    AsyncGuardClient,
    FailModes,
    GuardClient,
    GuardRequestError,
    Recorder,
    RecordError,
)
from sentinelle.client.asgi import MASKED, Guard, header, query_int
from sentinelle.client.recorder import SendError
from sentinelle.errors import ConfigError
from sentinelle.guard import parse_policy

ALLOW = {
    "decision": "allow",
    "grant": None,
    "mask": [],
    "expires": None,
    "reasons": ["ok"],
    "break_glass": False,
    "approvers": [],
    "event": "dec-1",
}
ASK = {"actor": "agent-1", "merchant": "m-1", "action": "view", "data": ["contact"]}
Handler = Callable[[httpx.Request], httpx.Response]


class Fake:
    """A Sentinelle that answers from a script, recording decide bodies and event batches."""

    def __init__(self, *answers: httpx.Response | Exception) -> None:
        self.answers = list(answers)
        self.decides: list[dict[str, Any]] = []
        self.batches: list[list[dict[str, Any]]] = []
        self.events_down = False
        self.lock = threading.Lock()

    def __call__(self, request: httpx.Request) -> httpx.Response:
        with self.lock:
            if request.url.path == "/v1/events":
                if self.events_down:
                    raise httpx.ConnectError("refused", request=request)
                self.batches.append(json.loads(request.read()))
                return httpx.Response(200, json={"stored": len(self.batches[-1])})
            self.decides.append(json.loads(request.read()))
            answer = self.answers.pop(0) if self.answers else httpx.Response(200, json=ALLOW)
        if isinstance(answer, Exception):
            raise answer
        return answer

    @property
    def sent(self) -> list[dict[str, Any]]:
        return [e for batch in self.batches for e in batch]


def _client(fake: Fake, **options: Any) -> GuardClient:
    options = {"timeout": 1.0, "flush_interval": 3600, **options}
    return GuardClient(
        "http://sentinelle.test", "key", transport=httpx.MockTransport(fake), **options
    )


@pytest.fixture
def fake() -> Fake:
    return Fake()


# -- exports ---------------------------------------------------------------------------


def test_all_names_exist_and_are_sorted() -> None:
    names = ("errors", "guard", "model", "modes", "recorder", "asgi", "logging")
    for module in [kit, *(importlib.import_module(f"sentinelle.client.{m}") for m in names)]:
        assert module.__all__ == sorted(module.__all__, key=lambda n: (not n.isupper(), n))
        for name in module.__all__:
            assert hasattr(module, name), f"{module.__name__}.{name}"
    modules = {"annotations", *names}  # asgi and logging once imported (above)
    assert {n for n in dir(kit) if not n.startswith("_")} - modules == set(kit.__all__)


# -- decide ----------------------------------------------------------------------------


def test_decide_sends_a_request_id_and_types_the_answer(fake: Fake) -> None:
    fake.answers = [
        httpx.Response(200, json={**ALLOW, "mask": ["contact"], "expires": "2026-11-05T18:00:00Z"})
    ]
    with _client(fake) as client:
        decision = client.decide(**ASK, ticket="T-1", subjects=["c-1"], source={"country": "FR"})
    assert decision.allowed and decision.mask == ("contact",) and decision.event == "dec-1"
    assert decision.expires is not None and decision.expires.hour == 18
    body = fake.decides[0]
    assert body["request_id"].startswith("req-") and body["subjects"] == ["c-1"]
    assert body["channel"] == "support_console" and body["source"] == {"country": "FR"}
    assert "count" not in body and "team" not in body  # unset fields are not sent


@pytest.mark.parametrize("status", [500, 502, 503, 429])
def test_transient_failures_are_retried_with_the_same_request_id(fake: Fake, status: int) -> None:
    fake.answers = [
        httpx.Response(status, json={"detail": "busy"}),
        httpx.ReadTimeout("lost"),
        httpx.Response(200, json=ALLOW),
    ]
    with _client(fake, timeout=5.0) as client:
        assert client.decide(**ASK, request_id="r-1").decision == "allow"
    assert [b["request_id"] for b in fake.decides] == ["r-1"] * 3


@pytest.mark.parametrize("status", [400, 401, 403, 404, 409, 413, 422])
def test_a_4xx_is_raised_with_the_servers_detail_not_retried(fake: Fake, status: int) -> None:
    fake.answers = [httpx.Response(status, json={"detail": "team: Expected `str` of length <= 64"})]
    with _client(fake) as client, pytest.raises(GuardRequestError) as refused:
        client.decide(**ASK)
    assert refused.value.status == status and refused.value.detail.startswith("team:")
    assert len(fake.decides) == 1 and client.pending == 0


@pytest.mark.parametrize(
    ("fields", "named"),
    [
        ({"action": "exprot"}, "action"),
        ({"data": ["emails"]}, "data[0]"),
        ({"subjects": ["c-1"], "count": 3}, "subjects and count"),
        ({"source": {"country": "France"}}, "country"),
        # What the server would refuse (422) and a fail-open access event could not record:
        # served open, it would never reach the ledger.
        ({"actor": ""}, "actor"),
        ({"team": "t" * 65}, "team"),
        ({"ticket": "T-\x001"}, "ticket"),
        ({"subjects": ["c-1", "c-\x00"]}, "subjects[1]"),
        ({"count": 2**53}, "count"),
    ],
)
def test_a_bad_request_is_refused_before_sending(
    fake: Fake, fields: dict[str, Any], named: str
) -> None:
    with _client(fake) as client, pytest.raises(GuardRequestError) as refused:
        client.decide(**{**ASK, **fields})
    assert refused.value.status is None and named in str(refused.value)
    assert fake.decides == []


@pytest.mark.parametrize(
    ("action", "fields", "verdict"),
    [
        ("view", {}, "allow"),
        ("search", {"count": 9}, "allow"),
        ("update", {}, "allow"),
        ("search", {"count": 10}, "deny"),
        ("view", {"subjects": [f"c-{i}" for i in range(12)]}, "deny"),
        ("export", {"count": 1}, "deny"),
        ("download", {}, "deny"),
        ("delete", {}, "deny"),
    ],
)
def test_unreachable_applies_the_default_fail_modes(
    action: str, fields: dict[str, Any], verdict: str
) -> None:
    fake = Fake(*[httpx.ConnectError("refused")] * 50)
    with _client(fake, timeout=0.2) as client:
        decision = client.decide(**{**ASK, "action": action, **fields}, ticket="T-1")
        assert decision.decision == verdict and decision.unreachable
        assert len(fake.decides) >= 2  # retried until the deadline
        assert decision.event is not None and client.pending == 1
        fake.answers = []
        assert client.flush() == 1
    (event,) = fake.sent
    assert event["id"] == decision.event and event["action"] == action
    assert event["outcome"] == ("allowed" if verdict == "allow" else "denied")
    if verdict == "allow":
        assert event["justification"] == {"reason": OPEN_REASON, "ticket": "T-1"}


def test_failing_open_hides_the_open_mask_and_follows_overrides() -> None:
    fake = Fake(*[httpx.ConnectError("refused")] * 50)
    modes = FailModes.of({"search": "closed"}, open_mask=["payment_partial"])
    with _client(fake, timeout=0.1, fail_modes=modes) as client:
        view = client.decide(**{**ASK, "data": ["contact", "payment_partial"]})
        search = client.decide(**{**ASK, "action": "search"})
    assert view.decision == "allow" and view.mask == ("payment_partial",)
    assert search.decision == "deny" and "search requests fail closed" in search.reasons[0]
    served = next(e for e in fake.sent if e["id"] == view.event)
    assert served["data"] == ["contact"]  # what was shown: the open mask hid the rest


def test_an_access_that_cannot_be_queued_is_not_served_open(tmp_path: Path) -> None:
    fake = Fake(*[httpx.ConnectError("refused")] * 50)
    fake.events_down = True
    with _client(fake, timeout=0.1, batch_size=1, max_queue=1) as client:
        assert client.decide(**ASK).decision == "allow"  # queued: the queue holds one
        refused = client.decide(**ASK)
        assert refused.decision == "deny" and refused.unreachable and refused.event is None
        assert "could not be queued" in refused.reasons[0]
        with pytest.raises(RecordError, match="1 event"):
            client.close()


def test_fail_modes_refuse_what_would_skip_an_approval() -> None:
    with pytest.raises(ConfigError) as bad:
        FailModes.of(
            {"export": "open", "bulk_list": "open", "vieww": "open", "view": "maybe"},
            bulk_records=1,
            open_mask=["emails"],
        )
    text = str(bad.value)
    for part in (
        "fail_modes.export",
        "fail_modes.bulk_list",
        '"vieww"',
        '"maybe"',
        "bulk_records",
        '"emails"',
    ):
        assert part in text


def test_fail_modes_from_a_policy() -> None:
    policy = parse_policy(
        '[teams.t]\nactions = ["view"]\nchannels = ["admin"]\ncategories = ["contact"]\n'
        '[approval]\nbulk_records = 50\n[unreachable]\nview = "closed"\n'
    )
    modes = FailModes.from_policy(policy)
    assert modes.mode("view", 1) == "closed" and modes.mode("search", 49) == "open"
    assert modes.mode("search", 50) == "closed"


def test_configuration_is_checked() -> None:
    for bad in ({"base_url": "ftp://x"}, {"api_key": ""}, {"timeout": 0}):
        args = {"base_url": "http://x", "api_key": "k", **bad}
        with pytest.raises(ConfigError):
            GuardClient(args.pop("base_url"), args.pop("api_key"), **args)


# -- recording -------------------------------------------------------------------------


def test_record_checks_events_and_record_access_builds_them(fake: Fake) -> None:
    with _client(fake) as client:
        with pytest.raises(GuardRequestError, match=r"\$.data\[0\]"):
            client.record_access(actor="a", merchant="m-1", action="view", data=["emails"])
        made = client.record_access(
            actor="a",
            merchant="m-1",
            action="export",
            data=["contact"],
            count=3,
            team="t",
            reason="nightly job",
        )
        given = client.record(
            {
                "id": "ctx-1",
                "type": "ticket.opened",
                "ticket": "T-1",
                "time": "2026-11-05T10:00:00Z",
            }
        )
    assert made.startswith("acc-") and given == "ctx-1"
    assert [e["id"] for e in fake.sent] == [made, "ctx-1"]  # sent on close
    assert fake.sent[0]["resource"] == {"count": 3} and fake.sent[0]["actor"]["team"] == "t"


def test_any_5xx_to_events_keeps_them_queued_as_for_a_decision() -> None:
    def full(request: httpx.Request) -> httpx.Response:
        return httpx.Response(507, json={"detail": "insufficient storage"})

    client = GuardClient(
        "http://sentinelle.test", "key", transport=httpx.MockTransport(full), flush_interval=3600
    )
    client.record_access(actor="a", merchant="m-1", action="view", data=["contact"])
    with pytest.raises(RecordError, match="507: insufficient storage"):
        client.flush()
    assert client.pending == 1
    with pytest.raises(RecordError, match="1 event"):
        client.close()


class Sink:
    """A sender that stores batches, or fails while ``down``."""

    def __init__(self) -> None:
        self.batches: list[list[bytes]] = []
        self.down = False
        self.refuse: GuardRequestError | None = None
        self.arrived = threading.Event()

    def __call__(self, batch: list[bytes]) -> None:
        if self.down:
            raise SendError("connection refused")
        if self.refuse is not None:
            refuse, self.refuse = self.refuse, None
            raise refuse
        self.batches.append(list(batch))
        self.arrived.set()

    @property
    def ids(self) -> list[bytes]:
        return [e for b in self.batches for e in b]


def _events(n: int, start: int = 0) -> list[bytes]:
    return [b'{"id":"e-%d"}' % i for i in range(start, start + n)]


@pytest.fixture
def sink() -> Sink:
    return Sink()


@pytest.fixture
def recorder(sink: Sink) -> Iterator[Recorder]:
    rec = Recorder(sink, batch_size=3, interval=3600, max_queue=6)
    yield rec
    sink.down = False
    rec.close()


def test_a_full_batch_wakes_the_sender(recorder: Recorder, sink: Sink) -> None:
    for event in _events(3):
        recorder.put(event)
    assert sink.arrived.wait(30)
    assert sink.batches == [_events(3)]


def test_flush_sends_in_batches_and_a_failure_keeps_every_event(
    recorder: Recorder, sink: Sink
) -> None:
    sink.down = True
    for event in _events(5):
        recorder.put(event)
    with pytest.raises(RecordError, match="5 event"):
        recorder.flush()
    assert recorder.pending == 5
    sink.down = False
    assert recorder.flush() == 5
    assert [len(b) for b in sink.batches] == [3, 2] and sink.ids == _events(5)
    assert recorder.flush() == 0


def test_a_refused_batch_stays_queued_and_is_raised(recorder: Recorder, sink: Sink) -> None:
    sink.refuse = GuardRequestError("permission events:write needed", status=403)
    recorder.put(_events(1)[0])
    with pytest.raises(GuardRequestError):
        recorder.flush()
    assert recorder.pending == 1 and recorder.flush() == 1


def test_invalid_events_are_set_aside_and_the_rest_sent(sink: Sink, tmp_path: Path) -> None:
    journal = tmp_path / "journal"
    recorder = Recorder(sink, batch_size=3, interval=3600, journal=journal)
    sink.refuse = GuardRequestError(
        "batch refused", status=422, errors=[{"index": 1, "path": "$.id", "message": "bad"}]
    )
    for event in _events(3):
        recorder.put(event)
    assert recorder.flush() == 2
    recorder.close()
    assert sink.ids == [_events(3)[0], _events(3)[2]]
    (rejected,) = journal.iterdir()
    assert rejected.name.startswith("rejected-")
    assert rejected.read_bytes() == _events(3)[1] + b"\n"


def test_a_full_queue_without_journal_refuses_loudly(recorder: Recorder, sink: Sink) -> None:
    sink.down = True
    for event in _events(6):
        recorder.put(event)
    with pytest.raises(RecordError, match="queue is full"):
        recorder.put(b'{"id":"e-6"}')
    assert recorder.pending == 6


def test_a_full_queue_spills_to_the_journal_then_everything_is_sent_once(
    sink: Sink, tmp_path: Path
) -> None:
    journal = tmp_path / "journal"
    sink.down = True
    recorder = Recorder(sink, batch_size=2, interval=3600, max_queue=4, journal=journal)
    for event in _events(9):
        recorder.put(event)
    assert recorder.pending == 1  # 8 spilled in two writes, the 9th in memory
    (spilled,) = journal.iterdir()
    assert spilled.read_bytes().split(b"\n")[:-1] == _events(8)
    assert spilled.stat().st_mode & 0o777 == 0o600 and journal.stat().st_mode & 0o777 == 0o700
    sink.down = False
    assert recorder.flush() == 9
    recorder.close()
    assert sorted(sink.ids) == sorted(_events(9)) and list(journal.iterdir()) == []


def test_a_spill_while_a_batch_is_being_sent_loses_no_event(tmp_path: Path) -> None:
    sent: list[bytes] = []
    sending, answer = threading.Event(), threading.Event()

    def slow(batch: list[bytes]) -> None:
        sending.set()
        assert answer.wait(30)
        sent.extend(batch)

    recorder = Recorder(slow, batch_size=2, interval=3600, max_queue=4, journal=tmp_path / "j")
    for event in _events(2):  # a full batch: the sender takes it and waits for the answer
        recorder.put(event)
    assert sending.wait(30)
    for event in _events(5, 2):  # meanwhile the queue fills up and is spilled
        recorder.put(event)
    answer.set()
    recorder.close()
    assert sorted(set(sent)) == sorted(_events(7))  # the batch may go twice: never lost


def test_a_journal_that_cannot_be_written_refuses_loudly(sink: Sink, tmp_path: Path) -> None:
    journal = tmp_path / "journal"
    sink.down = True
    recorder = Recorder(sink, batch_size=2, interval=3600, max_queue=2, journal=journal)
    (journal / recorder._spill_name).mkdir()  # where it would spill: cannot be written
    for event in _events(2):
        recorder.put(event)
    with pytest.raises(RecordError, match="journal cannot be written"):
        recorder.put(_events(1, 2)[0])
    assert recorder.pending == 2  # kept queued, not lost in the failed spill
    with pytest.raises(RecordError, match="2 event"):
        recorder.close()


def test_close_journals_what_it_cannot_send_and_another_recorder_sends_it(
    sink: Sink, tmp_path: Path
) -> None:
    journal = tmp_path / "journal"
    sink.down = True
    first = Recorder(sink, batch_size=2, interval=3600, journal=journal)
    for event in _events(3):
        first.put(event)
    first.close()
    with pytest.raises(RecordError, match="closed"):
        first.put(_events(1)[0])
    sink.down = False
    second = Recorder(sink, batch_size=2, interval=3600, journal=journal)
    assert second.flush() == 3
    second.close()
    assert sink.ids == _events(3) and list(journal.iterdir()) == []


def test_close_journals_the_events_even_when_sending_fails_unexpectedly(
    sink: Sink, tmp_path: Path
) -> None:
    def broken(batch: list[bytes]) -> None:
        raise RuntimeError("a bug in the sender")

    journal = tmp_path / "journal"
    first = Recorder(broken, batch_size=2, interval=3600, journal=journal)
    for event in _events(3):
        first.put(event)
    first.close()
    second = Recorder(sink, batch_size=2, interval=3600, journal=journal)
    assert second.flush() == 3
    second.close()
    assert sink.ids == _events(3)


def test_a_journal_file_is_rewritten_with_what_is_left_after_a_failure(
    sink: Sink, tmp_path: Path
) -> None:
    journal = tmp_path / "journal"
    journal.mkdir()
    (journal / "old.ndjson").write_bytes(b"".join(e + b"\n" for e in _events(4)))
    calls = 0

    def flaky(batch: list[bytes]) -> None:
        nonlocal calls
        calls += 1
        if calls == 2:
            raise SendError("connection reset")
        sink(batch)

    recorder = Recorder(flaky, batch_size=2, interval=3600, journal=journal)
    with pytest.raises(RecordError):
        recorder.flush()
    assert (journal / "old.ndjson").read_bytes().split(b"\n")[:-1] == _events(2, 2)
    assert recorder.flush() == 2
    recorder.close()
    assert sink.ids == _events(4)


def test_the_recorder_refuses_a_bad_configuration(sink: Sink) -> None:
    for bad in ({"batch_size": 0}, {"max_queue": 1, "batch_size": 2}, {"interval": 0}):
        with pytest.raises(ConfigError):
            Recorder(sink, **bad)  # type: ignore[arg-type]


# -- the ASGI guard --------------------------------------------------------------------

CUSTOMER = {
    "id": "c-1",
    "name": "Alex Example",
    "email": "c-1@example.com",
    "city": "Lyon",
    "orders": [{"id": "o-1", "email": "c-1@example.com"}],
}


def _app(fake: Fake) -> tuple[FastAPI, AsyncGuardClient]:
    client = AsyncGuardClient(
        "http://sentinelle.test",
        "key",
        timeout=0.2,
        flush_interval=3600,
        transport=httpx.MockTransport(fake),
    )
    guard = Guard(
        client,
        fields={"contact": ["name", "email"], "address": ["city"]},
        actor=header("X-Staff-Id"),
    )
    app = FastAPI()
    ran: list[str] = []
    app.state.ran = ran

    @app.get("/merchants/{merchant}/customers/{customer}")
    @guard.shows(action="view", data=["contact", "address"])
    async def view(merchant: str, customer: str) -> dict[str, Any]:
        ran.append(customer)
        return CUSTOMER

    @app.get("/merchants/{merchant}/customers")
    @guard.shows(action="search", data=["contact"], count=query_int("limit", 2))
    def listing(merchant: str, limit: int = 2, extra: int = 0) -> list[dict[str, Any]]:
        ran.append("list")
        return [CUSTOMER] * (limit + extra)

    return app, client


def _get(fake: Fake, path: str, actor: str | None = "agent-1") -> tuple[httpx.Response, list[str]]:
    app, client = _app(fake)
    with TestClient(app) as http:
        response = http.get(path, headers={"X-Staff-Id": actor} if actor else {})
    client._recorder.close()
    ran: list[str] = app.state.ran
    return response, ran


def test_an_allowed_answer_is_masked_at_every_depth_and_names_its_event() -> None:
    fake = Fake(httpx.Response(200, json={**ALLOW, "mask": ["contact"]}))
    response, ran = _get(fake, "/merchants/m-1/customers/c-1")
    assert response.status_code == 200 and ran == ["c-1"]
    assert response.json() == {
        **CUSTOMER,
        "name": MASKED,
        "email": MASKED,
        "orders": [{"id": "o-1", "email": MASKED}],
    }
    assert response.headers["Sentinelle-Event"] == "dec-1"
    assert response.headers["Sentinelle-Mask"] == "contact"
    assert "subjects" not in fake.decides[0] and "count" not in fake.decides[0]
    assert fake.decides[0]["merchant"] == "m-1" and fake.decides[0]["actor"] == "agent-1"


@pytest.mark.parametrize(("verdict", "status"), [("deny", 403), ("pending", 409)])
def test_a_refusal_never_runs_the_handler(verdict: str, status: int) -> None:
    fake = Fake(
        httpx.Response(
            200,
            json={
                **ALLOW,
                "decision": verdict,
                "reasons": ["why"],
                "approvers": ["merchant"],
                "event": "dec-9",
            },
        )
    )
    response, ran = _get(fake, "/merchants/m-1/customers/c-1")
    assert response.status_code == status and ran == []
    assert response.json()["detail"] == {
        "decision": verdict,
        "reasons": ["why"],
        "approvers": ["merchant"],
        "event": "dec-9",
    }
    assert response.headers["Sentinelle-Event"] == "dec-9"


def test_unreachable_fail_closed_is_a_503_and_fail_open_is_marked() -> None:
    down = [httpx.ConnectError("refused")] * 50
    listing, ran = _get(Fake(*down), "/merchants/m-1/customers?limit=10")
    assert listing.status_code == 503 and ran == []
    view, ran = _get(Fake(*down), "/merchants/m-1/customers/c-1")
    assert view.status_code == 200 and ran == ["c-1"]
    assert view.headers["Sentinelle-Unreachable"] == "fail-open"
    assert view.headers["Sentinelle-Event"].startswith("unr-")


def test_no_actor_is_a_401_and_a_handler_returning_more_than_decided_is_an_error() -> None:
    fake = Fake()
    response, ran = _get(fake, "/merchants/m-1/customers/c-1", actor=None)
    assert response.status_code == 401 and ran == [] and fake.decides == []
    with pytest.raises(ConfigError, match="3 records, more than the 2 decided"):
        _get(fake, "/merchants/m-1/customers?limit=2&extra=1")


def test_a_category_without_fields_is_refused_when_decorating(fake: Fake) -> None:
    _, client = _app(fake)
    guard = Guard(client, fields={"contact": ["email"]}, actor=header("X-Staff-Id"))
    with pytest.raises(ConfigError, match="no fields are known for address"):
        guard.shows(action="view", data=["contact", "address"])
    with pytest.raises(ConfigError, match="emails: not data categories"):
        Guard(client, fields={"emails": ["email"]}, actor=header("X-Staff-Id"))
    client._recorder.close()
