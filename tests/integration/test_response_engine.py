"""The response engine against a real store, on SQLite and PostgreSQL (``settings``): a
re-assessment keeps what was recorded, logs every change before → after and asks a reason
for one that lowers what the incident calls for; each operation is one transaction; the
lease allows one notice run at a time; a run that sends nothing changes nothing."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from typing import Any

import msgspec
import pytest

from incident_world import FROM, TO, incident_events
from sentinelle.config import Settings
from sentinelle.errors import NotFoundError
from sentinelle.incidents import Change, IncidentInputError, ScopeBasis, State, TransitionError
from sentinelle.ingest import Ingestor
from sentinelle.ledger.log import Ledger
from sentinelle.notify import Audience, NoticeConfig, SmtpConfig
from sentinelle.notify.delivery import Retry
from sentinelle.response import (
    FactsInputError,
    LeaseHeldError,
    NotifyError,
    ResponseEngine,
    hold_lease,
)
from sentinelle.response import engine as engine_module
from sentinelle.store import Store, open_store
from sentinelle.store.incidents import LeaseRow
from sentinelle.timeutil import HOUR, SECOND, iso, now_us, parse_time

OPENED_AWARE = "2026-11-06T12:00:00Z"
NOW = parse_time("2026-11-07T00:00:00Z")


@pytest.fixture
def store(settings: Settings) -> Iterator[Store]:
    opened = open_store(settings)
    ledger = Ledger.open(opened, data_dir=settings.data_dir, origin=settings.log_origin)
    Ingestor(opened, ledger).ingest((i, json.dumps(e)) for i, e in enumerate(incident_events(), 1))
    try:
        yield opened
    finally:
        opened.close()


@pytest.fixture
def engine(store: Store) -> ResponseEngine:
    return ResponseEngine(store, clock=lambda: NOW)


def _open(engine: ResponseEngine) -> str:
    return engine.open(
        title="harvest",
        by="dpo",
        actors=["ana"],
        from_us=parse_time(FROM),
        to_us=parse_time(TO),
    ).id


def _snapshot(engine: ResponseEngine, incident_id: str) -> tuple[Any, ...]:
    return engine.get(incident_id), engine.log(incident_id)


def test_reassessing_keeps_awareness_basis_and_stated_facts(engine: ResponseEngine) -> None:
    incident_id = _open(engine)
    aware = parse_time("2026-11-04T08:00:00Z")
    first = engine.assess(
        incident_id,
        by="dpo",
        aware_us=aware,
        basis=ScopeBasis.ALL,
        given={"summary": "two agents copied customer lists", "recipients": "unknown"},
    )
    assert first.incident.state is State.ASSESSED
    assert first.changes == ()  # a first assessment has nothing to compare with
    assert first.scope.scope.subject_ids == {"c-0-a", "c-0-b", "c-1-a", "c-1-b", "c-2-a", "c-2-b"}
    deadline = engine.clock(incident_id).deadline_us
    # A plain re-assessment, as the README shows it: nothing recorded moves.
    again = engine.assess(incident_id, by="dpo")
    found = again.incident
    assert found.aware_us == aware
    assert engine.clock(incident_id).deadline_us == deadline == aware + 72 * HOUR
    assert found.scope_basis is ScopeBasis.ALL
    assert again.scope.scope.subject_ids == first.scope.scope.subject_ids
    assert found.facts is not None and found.facts.summary == "two agents copied customer lists"
    assert found.facts.recipients == "unknown"
    assert again.changes == ()
    assessments = [e for e in engine.log(incident_id) if e.change == Change.ASSESSMENT]
    assert [e.details["changes"] for e in assessments] == [[], []]


def test_narrowing_the_scope_needs_a_reason_and_is_logged(engine: ResponseEngine) -> None:
    incident_id = _open(engine)
    engine.assess(incident_id, by="dpo", basis=ScopeBasis.ALL)
    before = _snapshot(engine, incident_id)
    with pytest.raises(IncidentInputError, match="narrows from all accesses"):
        engine.assess(incident_id, by="dpo", basis=ScopeBasis.UNJUSTIFIED)
    assert _snapshot(engine, incident_id) == before  # nothing written
    done = engine.assess(
        incident_id, by="dpo", basis=ScopeBasis.UNJUSTIFIED, reason="ticketed work is not a breach"
    )
    assert done.incident.scope_basis is ScopeBasis.UNJUSTIFIED
    assert done.scope.scope.subject_ids == {"c-1-a", "c-1-b", "c-2-a", "c-2-b"}
    changed = {c.field: (c.before, c.after) for c in done.changes}
    assert changed["scope_basis"] == ("all", "unjustified")
    assert changed["facts.subjects.count"] == (6, 4)
    last = [e for e in engine.log(incident_id) if e.change == Change.ASSESSMENT][-1]
    assert last.details["reason"] == "ticketed work is not a breach"
    assert {"field": "scope_basis", "before": "all", "after": "unjustified"} in last.details[
        "changes"
    ]
    # Widening needs no reason.
    wide = engine.assess(incident_id, by="dpo", basis=ScopeBasis.ALL)
    assert wide.incident.scope_basis is ScopeBasis.ALL


def test_moving_awareness_later_needs_a_reason_earlier_does_not(engine: ResponseEngine) -> None:
    incident_id = _open(engine)
    aware = parse_time("2026-11-04T08:00:00Z")
    engine.assess(incident_id, by="dpo", aware_us=aware)
    before = _snapshot(engine, incident_id)
    later = aware + 48 * HOUR
    with pytest.raises(IncidentInputError, match="awareness moves later"):
        engine.assess(incident_id, by="dpo", aware_us=later)
    with pytest.raises(IncidentInputError, match="awareness moves later"):
        engine.assess(incident_id, by="dpo", given={"aware_at": iso(later)})
    assert _snapshot(engine, incident_id) == before
    earlier = engine.assess(incident_id, by="dpo", aware_us=aware - HOUR)
    assert earlier.incident.aware_us == aware - HOUR
    assert [str(c) for c in earlier.changes if c.field == "facts.aware_at"] == [
        'facts.aware_at: "2026-11-04T08:00:00Z" → "2026-11-04T07:00:00Z"'
    ]
    moved = engine.assess(incident_id, by="dpo", aware_us=later, reason="the alert was a test")
    assert moved.incident.aware_us == later


def test_dropping_a_duty_needs_a_reason(engine: ResponseEngine) -> None:
    incident_id = _open(engine)
    first = engine.assess(incident_id, by="dpo")
    assert first.assessment.notify_authority.required is True
    before = _snapshot(engine, incident_id)
    with pytest.raises(IncidentInputError) as refused:
        engine.assess(incident_id, by="dpo", given={"exfiltration": "ruled_out"})
    text = refused.value.diagnostics()
    assert "notifying the authority was required" in text
    assert _snapshot(engine, incident_id) == before
    done = engine.assess(
        incident_id, by="dpo", given={"exfiltration": "ruled_out"}, reason="logs show no copy"
    )
    assert done.assessment.notify_authority.required is False
    changed = {c.field: (c.before, c.after) for c in done.changes}
    assert changed["notify_authority.required"] == (True, False)
    assert changed["facts.exfiltration"] == (None, "ruled_out")


def test_facts_passed_back_unchanged_are_not_pinned(engine: ResponseEngine) -> None:
    incident_id = _open(engine)
    engine.assess(incident_id, by="dpo", basis=ScopeBasis.UNJUSTIFIED)
    prefilled = msgspec.to_builtins(engine.prefilled_facts(incident_id))
    assert prefilled["subjects"]["count"] == 4
    edited = {**prefilled, "summary": "copied"}
    done = engine.assess(incident_id, by="dpo", given=edited)
    # Only what people changed is theirs; the counts stay the ledger's, so a wider scope
    # is counted again instead of keeping the old number.
    assert done.incident.given == {"summary": "copied"}
    wider = engine.assess(incident_id, by="dpo", basis=ScopeBasis.ALL)
    assert wider.incident.facts is not None
    assert wider.incident.facts.subjects is not msgspec.UNSET
    assert wider.incident.facts.subjects.count == 6
    assert wider.incident.facts.summary == "copied"


def test_a_wrong_facts_key_names_the_source_and_key_and_writes_nothing(
    engine: ResponseEngine,
) -> None:
    incident_id = _open(engine)
    before = _snapshot(engine, incident_id)
    with pytest.raises(FactsInputError) as refused:
        engine.assess(incident_id, by="dpo", given={"nature": {"summary": "x"}}, source="f.json")
    text = refused.value.diagnostics()
    assert text.startswith("facts refused (f.json), nothing was recorded")
    assert "nature" in text and "batch" not in text
    with pytest.raises(FactsInputError, match=r"\$\.cause\.intent"):
        engine.assess(incident_id, by="dpo", given={"cause": {"intent": "evil"}}, source="f.json")
    assert _snapshot(engine, incident_id) == before


def test_an_assessment_is_one_transaction(
    engine: ResponseEngine, monkeypatch: pytest.MonkeyPatch
) -> None:
    incident_id = _open(engine)
    before = _snapshot(engine, incident_id)
    real = engine_module.log_change

    def failing(w: Any, incident: str, by: str, change: Change, details: Any, **kw: Any) -> None:
        if change is Change.ASSESSMENT:
            raise RuntimeError("the disk is full")
        real(w, incident, by, change, details, **kw)

    monkeypatch.setattr(engine_module, "log_change", failing)
    with pytest.raises(RuntimeError):
        engine.assess(incident_id, by="dpo")
    assert _snapshot(engine, incident_id) == before  # no scope, facts or state half written


def test_unknown_and_closed_incidents(engine: ResponseEngine) -> None:
    with pytest.raises(NotFoundError):
        engine.assess("inc-nope", by="dpo")
    incident_id = _open(engine)
    engine.assess(incident_id, by="dpo")
    engine.record_phase(incident_id, "initial", by="dpo")  # moves it to notifying
    engine.advance(incident_id, State.CLOSED, by="dpo", reason="done")
    with pytest.raises(Exception, match="closed"):
        engine.assess(incident_id, by="dpo")


# -- by-hand state changes: each state true of the record ----------------------------------


def test_marking_assessed_by_hand_needs_an_assessment(engine: ResponseEngine) -> None:
    incident_id = _open(engine)
    before = _snapshot(engine, incident_id)
    with pytest.raises(
        TransitionError,
        match=rf"no assessment is recorded; assess it first \(sentinelle incident assess "
        rf"{incident_id}\)",
    ):
        engine.advance(incident_id, State.ASSESSED, by="dpo", reason="looked at it")
    assert _snapshot(engine, incident_id) == before  # still open, nothing logged


def test_notifying_needs_something_notified_and_closing_needs_notifying(
    engine: ResponseEngine,
) -> None:
    incident_id = _open(engine)
    engine.assess(incident_id, by="dpo")
    assert engine.get(incident_id).assessment.notify_authority.required  # type: ignore[union-attr]
    before = _snapshot(engine, incident_id)
    with pytest.raises(TransitionError, match="nothing was notified yet.*incident notified"):
        engine.advance(incident_id, State.NOTIFYING, by="dpo", reason="notices under way")
    with pytest.raises(
        TransitionError, match="cannot be closed before it is notified.*supervisory authority"
    ):
        engine.advance(incident_id, State.CLOSED, by="dpo", reason="done")
    assert _snapshot(engine, incident_id) == before
    # A notice the mail server accepted counts, even if its run stopped before logging it
    # (so the incident stayed assessed): it may then be marked notifying by hand.
    with engine.store.writer() as w:
        w.add_notices(incident_id, "merchants", 1, [("r-1", "<m-1@shop.example>")], at_us=NOW)
        w.set_notice_outcomes(incident_id, "merchants", 1, [("r-1", "sent", 250, "ok", NOW)])
    moved = engine.advance(incident_id, State.NOTIFYING, by="dpo", reason="run cut short")
    assert moved.state is State.NOTIFYING
    assert engine.advance(incident_id, State.CLOSED, by="dpo", reason="done").state is (
        State.CLOSED
    )


def test_a_legacy_incident_marked_assessed_by_hand_says_what_is_missing(
    engine: ResponseEngine,
) -> None:
    incident_id = _open(engine)
    with engine.store.writer() as w:  # marked assessed by hand before that was refused
        w.update_incident(incident_id, state="assessed")
    for target in (State.NOTIFYING, State.CLOSED):
        with pytest.raises(TransitionError, match="no assessment is recorded; assess it first"):
            engine.advance(incident_id, target, by="dpo", reason="x")
    with pytest.raises(NotifyError) as refused:
        engine.notifiable(incident_id)
    assert str(refused.value) == (
        f"{incident_id} is assessed but no assessment is recorded: assess it first "
        f"(sentinelle incident assess {incident_id})"
    )
    engine.assess(incident_id, by="dpo")  # the way out: assess it, it stays assessed
    assert engine.notifiable(incident_id)[0].assessment is not None


def test_an_empty_scope_invents_no_data_category_and_closes_unassessed(
    engine: ResponseEngine,
) -> None:
    incident_id = engine.open(
        title="a false lead", by="dpo", actors=["nobody-real"], from_us=parse_time(FROM)
    ).id
    # No access by its actors: no category is known, and none is invented ("contact" was).
    with pytest.raises(FactsInputError) as refused:
        engine.assess(incident_id, by="dpo")
    [problem] = refused.value.problems
    assert problem.path == "data_categories"
    assert "the scope shows no access to customer data" in problem.message
    found = engine.get(incident_id)
    assert (found.state, found.assessment, found.facts) == (State.OPEN, None, None)
    # Not a personal data breach: it closes from open, with the reasoning in the register.
    closed = engine.advance(incident_id, State.CLOSED, by="dpo", reason="no personal data")
    assert closed.state is State.CLOSED
    assert [e.details["to"] for e in engine.log(incident_id) if e.change == Change.STATE] == [
        "closed"
    ]


def test_the_moves_offered_are_the_moves_the_engine_takes(engine: ResponseEngine) -> None:
    # Ana's one ticketed read (10:00): the unjustified scope the page shows is empty, but an
    # access is in scope, so closing unassessed is neither offered nor taken.
    ticketed = engine.open(
        title="one ticketed read",
        by="dpo",
        actors=["ana"],
        from_us=parse_time("2026-11-03T10:00:00Z"),
        to_us=parse_time("2026-11-03T10:00:30Z"),
    ).id
    shown = engine.scope(ticketed, basis=ScopeBasis.UNJUSTIFIED).scope
    assert not shown.per_merchant
    assert engine.moves(ticketed, shown=shown) == []
    with pytest.raises(TransitionError, match="cannot be closed while open"):
        engine.advance(ticketed, State.CLOSED, by="dpo", reason="nothing unjustified")
    # A false lead: closing is offered, and taken.
    lead = engine.open(
        title="a false lead", by="dpo", actors=["nobody-real"], from_us=parse_time(FROM)
    ).id
    assert engine.moves(lead, shown=engine.scope(lead).scope) == [State.CLOSED]
    # Assessed with a duty: nothing is offered until it is notified, then closing follows.
    real = _open(engine)
    engine.assess(real, by="dpo")
    assert engine.moves(real) == []
    engine.record_phase(real, "initial", by="dpo")
    assert engine.moves(real) == [State.CLOSED]


def test_an_open_incident_with_accesses_does_not_close_unassessed(
    engine: ResponseEngine,
) -> None:
    incident_id = _open(engine)
    with pytest.raises(TransitionError, match="cannot be closed while open: assess it first"):
        engine.advance(incident_id, State.CLOSED, by="dpo", reason="nothing here")
    assert engine.get(incident_id).state is State.OPEN


def test_facts_people_state_over_an_empty_scope_still_count(engine: ResponseEngine) -> None:
    incident_id = engine.open(
        title="copied by hand", by="dpo", actors=["nobody-real"], from_us=parse_time(FROM)
    ).id
    outcome = engine.assess(
        incident_id,
        by="dpo",
        given={"data_categories": ["contact", "address", "order_details"]},
        source="facts.json",
    )
    assert outcome.assessment.notify_authority.required  # the people's facts, not the scope
    assert engine.get(incident_id).given == {
        "data_categories": ["contact", "address", "order_details"]
    }
    # The log says the facts were stated, not "pre-filled from the scope".
    [entry] = [e for e in engine.log(incident_id) if e.change == Change.FACTS]
    assert entry.details["reason"] == "from the scope, with the facts stated"


def test_recording_the_scope_of_a_closed_incident_is_refused(engine: ResponseEngine) -> None:
    incident_id = _open(engine)
    engine.assess(incident_id, by="dpo")
    engine.record_phase(incident_id, "initial", by="dpo")
    engine.advance(incident_id, State.CLOSED, by="dpo", reason="done")
    before = _snapshot(engine, incident_id)
    with pytest.raises(
        TransitionError, match="the incident is closed: its scope cannot be recorded"
    ):
        engine.scope(incident_id, record_by="dpo")
    assert _snapshot(engine, incident_id) == before  # no scope entry after the incident is done
    assert engine.scope(incident_id).scope.to_dict()["subjects"] > 0  # counting still works


# -- leases ----------------------------------------------------------------------------------


def test_one_holder_at_a_time(store: Store) -> None:
    with hold_lease(store, "notify:x:subjects", what="a run") as me:
        with pytest.raises(LeaseHeldError, match="a run is under way elsewhere"):
            with hold_lease(store, "notify:x:subjects", what="a run"):
                pass
        with hold_lease(store, "notify:x:merchants", what="another run"):
            pass  # another name is free
        assert me.startswith(socket.gethostname() + ":")
    with hold_lease(store, "notify:x:subjects", what="a run"):
        pass  # released


def test_a_dead_or_expired_holder_is_taken_over(store: Store) -> None:
    dead = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        check=True,
        capture_output=True,
        text=True,
    )
    pid = int(dead.stdout)
    now = now_us()
    with store.writer() as w:
        w.put_lease(LeaseRow("a", f"{socket.gethostname()}:{pid}:dead", now, now + HOUR))
        w.put_lease(LeaseRow("b", "other-host:1:gone", now - 2 * HOUR, now - HOUR))
        w.put_lease(LeaseRow("c", "other-host:1:alive", now, now + HOUR))
    for name in ("a", "b"):
        with hold_lease(store, name, what=name):
            pass
    with pytest.raises(LeaseHeldError, match="other-host:1"):
        with hold_lease(store, "c", what="c"):
            pass


def test_the_heartbeat_keeps_a_lease(settings: Settings, store: Store) -> None:
    ttl = 2 * SECOND
    with hold_lease(
        store, "beat", what="beat", ttl_us=ttl, heartbeat=lambda: open_store(settings)
    ) as me:
        time.sleep(3 * ttl / SECOND)  # well past the first expiry: renewed meanwhile
        with store.writer() as w:
            held = w.lease("beat")
        assert held is not None and held.holder == me and held.expires_us > now_us()
        with pytest.raises(LeaseHeldError):
            with hold_lease(store, "beat", what="beat"):
                pass
    with store.writer() as w:
        assert w.lease("beat") is None


# -- notices ---------------------------------------------------------------------------------


def _config() -> NoticeConfig:
    return NoticeConfig(
        shop_name="Shop",
        shop_domain="shop.example",
        dpo_contact="dpo@shop.example",
        sender="Shop <privacy@shop.example>",
        authority_address="breach@authority.example",
    )


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_a_run_that_sends_nothing_changes_nothing(engine: ResponseEngine) -> None:
    incident_id = _open(engine)
    engine.assess(incident_id, by="dpo")
    smtp = SmtpConfig(host="127.0.0.1", port=_closed_port(), sender="privacy@shop.example")
    run = engine.send_notices(
        incident_id,
        Audience.AUTHORITY,
        config=_config(),
        key=os.urandom(32),
        smtp=smtp,
        by="dpo",
        retry=Retry(attempts=2, base=0.01),
    )
    assert (run.report.sent, run.report.deferred) == (0, 1)  # left for a rerun
    found = engine.get(incident_id)
    assert found.state is State.ASSESSED
    notices = [e.details for e in engine.log(incident_id) if e.change == Change.NOTICES]
    # The content hash, then what the run did: nothing sent, one deferred.
    assert [(d["event"], d.get("sent")) for d in notices] == [("prepared", None), ("ran", 0)]
    assert not any(
        e.change == Change.STATE and e.details["to"] == "notifying" for e in engine.log(incident_id)
    )
    with hold_lease(engine.store, f"notify:{incident_id}:authority", what="x"):
        pass  # the lease was released: a rerun may start


def test_notices_need_an_assessment_and_one_run_at_a_time(engine: ResponseEngine) -> None:
    incident_id = _open(engine)
    smtp = SmtpConfig(host="127.0.0.1", port=_closed_port(), sender="privacy@shop.example")
    kwargs: dict[str, Any] = {"config": _config(), "key": os.urandom(32), "smtp": smtp, "by": "x"}
    with pytest.raises(NotifyError, match="assess it first"):
        engine.send_notices(incident_id, Audience.AUTHORITY, **kwargs)
    engine.assess(incident_id, by="dpo")
    with hold_lease(engine.store, f"notify:{incident_id}:authority", what="a run"):
        with pytest.raises(LeaseHeldError, match=f"sending {incident_id}'s notices"):
            engine.send_notices(incident_id, Audience.AUTHORITY, **kwargs)


def test_an_awareness_time_in_the_future_is_refused_and_nothing_changes(
    engine: ResponseEngine,
) -> None:
    """A typo in the year (2027 for 2026) would start the 72-hour clock a year late and show
    'plenty of time': refused, naming aware_at; a few minutes ahead (clocks differ) is not."""
    incident_id = _open(engine)
    engine.assess(incident_id, by="dpo")
    before = _snapshot(engine, incident_id)
    typo = NOW + 365 * 24 * HOUR
    for kwargs in ({"aware_us": typo}, {"given": {"aware_at": iso(typo)}}):
        with pytest.raises(
            FactsInputError, match=r"aware_at: 2027-11-07T00:00:00Z is in the future"
        ):
            engine.assess(incident_id, by="dpo", reason="moved", **kwargs)  # type: ignore[arg-type]
    assert _snapshot(engine, incident_id) == before
    ahead = engine.assess(incident_id, by="dpo", aware_us=NOW + 60 * SECOND, reason="now")
    assert ahead.incident.aware_us == NOW + 60 * SECOND
