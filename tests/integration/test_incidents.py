"""Incidents against a real store, on SQLite and PostgreSQL (``settings`` fixture).

A hand-made stream whose scope is known exactly: two actors in scope (``ana``, ``bob``) with
overlapping customers, accesses justified by a ticket, by a ticket closed within its day of
grace, by a grant, and not (no justification, a colleague's ticket, a ticket closed too long
ago, a grant used before its approval and after its expiry, a ticket older than the context
replay), plus a denied access, events just outside the window, the window's last
microsecond, and another actor's accesses to the same customers. Then the lifecycle, the
change log, the register and the CLI; and the simulator's ``pair_harvest`` ground truth.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from typing import Any

import pytest
from click.testing import CliRunner

from sentinelle.cli import main
from sentinelle.cli.app import cli_group
from sentinelle.config import Settings
from sentinelle.errors import NotFoundError, ValidationError
from sentinelle.events import AccessEvent, decode_event
from sentinelle.incidents import (
    CSV_COLUMNS,
    Incidents,
    ScopeBasis,
    State,
    TransitionError,
    compute_scope,
    register,
    register_csv,
)
from sentinelle.ingest import Ingestor
from sentinelle.ledger.log import Ledger
from sentinelle.response import ResponseEngine
from sentinelle.sim import simulate
from sentinelle.store import Store, open_store
from sentinelle.store.alerts import AlertRow
from sentinelle.timeutil import DAY, parse_time

FROM, TO = "2026-11-10T00:00:00Z", "2026-11-20T00:00:00Z"


def stream() -> list[dict[str, Any]]:
    """The hand-made events (see the module docstring and :data:`EXPECTED`)."""
    events: list[dict[str, Any]] = []

    def access(
        actor: str, time: str, merchant: str, subjects: list[str] | None, data: list[str], **kw: Any
    ) -> None:
        event: dict[str, Any] = {
            "id": f"a{len(events)}",
            "time": time,
            "actor": {"id": actor, "kind": "staff", "role": "agent", "team": "tier1"},
            "action": "view",
            "merchant": merchant,
            "data": data,
            "channel": "support_console",
            "outcome": "allowed",
        }
        if subjects is not None:
            event["subjects"] = subjects
            event["resource"] = {"type": "customer", "count": len(subjects)}
        event.update(kw)
        events.append(event)

    def context(kind: str, time: str, **kw: Any) -> None:
        events.append({"id": f"c{len(events)}", "time": time, "type": kind, **kw})

    # Tickets and grants. T0 was opened long before the window and never closed.
    context("ticket.opened", "2026-09-01T09:00:00Z", ticket="T0", merchant="m6", by="cust")
    context("ticket.assigned", "2026-09-01T09:05:00Z", ticket="T0", merchant="m6", actor="ana")
    context("ticket.opened", "2026-10-25T09:00:00Z", ticket="T1", merchant="m1", by="cust")
    context("ticket.assigned", "2026-10-25T09:05:00Z", ticket="T1", merchant="m1", actor="ana")
    context("grant.requested", "2026-11-10T07:00:00Z", grant="G1", merchant="m3", actor="bob")
    context("ticket.opened", "2026-11-12T08:00:00Z", ticket="T2", merchant="m2", by="cust")
    context("ticket.assigned", "2026-11-12T08:30:00Z", ticket="T2", merchant="m2", actor="bob")
    context(
        "grant.approved",
        "2026-11-11T00:00:00Z",
        grant="G1",
        merchant="m3",
        actor="bob",
        by="lead",
        expires="2026-11-15T00:00:00Z",
    )
    context("ticket.closed", "2026-11-13T00:00:00Z", ticket="T2", merchant="m2")

    t1, t2, t0, g1 = (
        {"justification": {k: v}}
        for k, v in (("ticket", "T1"), ("ticket", "T2"), ("ticket", "T0"), ("grant", "G1"))
    )
    # ana
    access("ana", "2026-11-09T23:59:59.999999Z", "m1", ["c1"], ["contact"], **t1)  # before
    access("ana", "2026-11-11T10:00:00Z", "m1", ["c1", "c2"], ["contact"], **t1)  # justified
    access("ana", "2026-11-12T09:00:00Z", "m2", ["c2", "c3", "c4"], ["contact", "address"])
    # bob's ticket: ana is not assigned, nor a reviewer; no count: one record per subject
    access("ana", "2026-11-14T10:00:00Z", "m2", ["c5"], ["order_details"], **t2)
    events[-1].pop("resource")
    access("ana", "2026-11-15T10:00:00Z", "m5", ["c1"], ["contact"], outcome="denied")
    # T0 was opened ten weeks before and is still open: it justifies the access
    access("ana", "2026-11-15T11:00:00Z", "m6", ["c12"], ["contact"], **t0)
    # no event names T404: an unknown ticket justifies nothing
    access(
        "ana", "2026-11-15T12:00:00Z", "m7", ["c13"], ["contact"], justification={"ticket": "T404"}
    )
    access(  # the window's last microsecond is in; an export that names no subject
        "ana",
        "2026-11-20T00:00:00Z",
        "m4",
        None,
        ["contact"],
        action="export",
        resource={"type": "customer_list", "count": 500},
    )
    access("ana", "2026-11-20T00:00:00.000001Z", "m4", ["c1"], ["contact"])  # after
    # bob
    access("bob", "2026-11-10T08:00:00Z", "m3", ["c11"], ["contact"], **g1)  # not approved yet
    access("bob", "2026-11-12T12:00:00Z", "m2", ["c3", "c6"], ["contact"], **t2)  # justified
    access("bob", "2026-11-13T12:00:00Z", "m2", ["c7"], ["contact"], **t2)  # closed, in grace
    access("bob", "2026-11-14T00:00:00Z", "m3", ["c9"], ["contact"], **g1)  # justified
    access("bob", "2026-11-14T12:00:00Z", "m2", ["c8"], ["contact"], **t2)  # grace is over
    access("bob", "2026-11-16T09:00:00Z", "m3", ["c9", "c10"], ["payment_partial"], **g1)
    # cy: the same customers, not in scope
    access("cy", "2026-11-12T10:00:00Z", "m1", ["c1", "c99"], ["credentials"])
    access("cy", "2026-11-13T10:00:00Z", "m7", ["c100"], ["contact"])
    return events


def _m(
    merchant: str,
    subjects: int,
    records: int,
    categories: list[str],
    first: str,
    last: str,
    justified: int,
    unjustified: int,
) -> dict[str, Any]:
    return {
        "merchant": merchant,
        "subjects": subjects,
        "records": records,
        "categories": categories,
        "first": first,
        "last": last,
        "justified_events": justified,
        "unjustified_events": unjustified,
    }


EXPECTED_ALL = {
    "actors": ["ana", "bob"],
    "window": {"from": FROM, "to": TO},
    "merchants": 6,
    "subjects": 13,  # c1…c13: c2 and c3 were seen by both, and at two merchants
    "records": 516,
    "categories": ["address", "contact", "order_details", "payment_partial"],
    "per_merchant": [
        _m("m1", 2, 2, ["contact"], "2026-11-11T10:00:00Z", "2026-11-11T10:00:00Z", 1, 0),
        _m(
            "m2",
            7,
            8,
            ["address", "contact", "order_details"],
            "2026-11-12T09:00:00Z",
            "2026-11-14T12:00:00Z",
            2,
            3,
        ),
        _m(
            "m3",
            3,
            4,
            ["contact", "payment_partial"],
            "2026-11-10T08:00:00Z",
            "2026-11-16T09:00:00Z",
            1,
            2,
        ),
        _m("m4", 0, 500, ["contact"], TO, TO, 0, 1),
        _m("m6", 1, 1, ["contact"], "2026-11-15T11:00:00Z", "2026-11-15T11:00:00Z", 1, 0),
        _m("m7", 1, 1, ["contact"], "2026-11-15T12:00:00Z", "2026-11-15T12:00:00Z", 0, 1),
    ],
}
EXPECTED_UNJUSTIFIED = {
    **EXPECTED_ALL,
    "merchants": 4,
    "subjects": 9,  # c2 c3 c4 c5 c8 (m2), c9 c10 c11 (m3), c13 (m7)
    "records": 509,
    "per_merchant": [
        _m(
            "m2",
            5,
            5,
            ["address", "contact", "order_details"],
            "2026-11-12T09:00:00Z",
            "2026-11-14T12:00:00Z",
            0,
            3,
        ),
        _m(
            "m3",
            3,
            3,
            ["contact", "payment_partial"],
            "2026-11-10T08:00:00Z",
            "2026-11-16T09:00:00Z",
            0,
            2,
        ),
        _m("m4", 0, 500, ["contact"], TO, TO, 0, 1),
        _m("m7", 1, 1, ["contact"], "2026-11-15T12:00:00Z", "2026-11-15T12:00:00Z", 0, 1),
    ],
}


def ingest(store: Store, settings: Settings, events: list[dict[str, Any]]) -> None:
    ledger = Ledger.open(store, data_dir=settings.data_dir, origin=settings.log_origin)
    Ingestor(store, ledger).ingest((i, json.dumps(e)) for i, e in enumerate(events, 1))


@pytest.fixture
def store(settings: Settings) -> Iterator[Store]:
    opened = open_store(settings)
    try:
        ingest(opened, settings, stream())
        yield opened
    finally:
        opened.close()


def _open(store: Store, **kw: Any) -> str:
    args: dict[str, Any] = {
        "title": "harvest",
        "by": "dpo",
        "actors": ["ana", "bob"],
        "from_us": parse_time(FROM),
        "to_us": parse_time(TO),
    }
    return Incidents(store).open(**{**args, **kw}).id


# -- scope ---------------------------------------------------------------------------------------
def test_scope_is_exact(store: Store) -> None:
    incident = Incidents(store).get(_open(store))
    got = compute_scope(store, incident).to_dict()
    assert got == {"incident": incident.id, **EXPECTED_ALL}


def test_scope_unjustified_only_is_exact(store: Store) -> None:
    incident = Incidents(store).get(_open(store))
    scope = compute_scope(store, incident, unjustified_only=True)
    assert scope.to_dict() == {"incident": incident.id, **EXPECTED_UNJUSTIFIED}
    assert scope.subject_ids == {"c2", "c3", "c4", "c5", "c8", "c9", "c10", "c11", "c13"}
    assert scope.denied_events == 1


def test_a_ticket_opened_long_before_the_window_still_justifies(store: Store) -> None:
    incident = Incidents(store).get(_open(store))
    scope = compute_scope(store, incident)
    m6 = scope.per_merchant["m6"]
    assert (m6.justified_events, m6.unjustified_events) == (1, 0)
    assert "m6" not in compute_scope(store, incident, unjustified_only=True).per_merchant


def test_scope_of_one_actor_and_of_an_empty_window(store: Store) -> None:
    bob = Incidents(store).get(_open(store, actors=["bob"]))
    got = compute_scope(store, bob).to_dict()
    assert (got["merchants"], got["subjects"], got["records"]) == (2, 7, 8)  # m2, m3
    quiet = Incidents(store).get(
        _open(store, from_us=parse_time("2026-12-01"), to_us=parse_time("2026-12-02"))
    )
    assert compute_scope(store, quiet).to_dict()["merchants"] == 0


# -- lifecycle, log, register ------------------------------------------------------------------
def test_lifecycle_is_forward_one_step_at_a_time_and_logged(store: Store) -> None:
    book, engine = Incidents(store), ResponseEngine(store)
    incident_id = _open(store)
    with pytest.raises(TransitionError, match="skip a state"):
        book.advance(incident_id, "notifying", by="dpo", reason="hurry")
    with pytest.raises(ValidationError):
        book.advance(incident_id, "assessed", by="dpo", reason=" ")
    with pytest.raises(TransitionError, match="no assessment is recorded"):
        book.advance(incident_id, State.ASSESSED, by="dpo", reason="high risk: notify")
    engine.assess(incident_id, by="dpo")  # moves it to assessed
    with pytest.raises(TransitionError, match="go back"):
        book.advance(incident_id, "open", by="dpo", reason="oops")
    with pytest.raises(TransitionError, match="nothing was notified yet"):
        book.advance(incident_id, "notifying", by="ciso", reason="authority informed")
    with pytest.raises(TransitionError, match="cannot be closed before it is notified"):
        book.advance(incident_id, "closed", by="dpo", reason="done")
    engine.record_phase(incident_id, "initial", by="ciso")  # moves it to notifying
    book.advance(incident_id, "closed", by="dpo", reason="done")
    with pytest.raises(TransitionError, match="closed"):
        book.advance(incident_id, "closed", by="dpo", reason="again")
    assert book.get(incident_id).state is State.CLOSED
    log = [e for e in book.log(incident_id) if e.change in ("opened", "state")]
    assert [(e.change, e.by) for e in log] == [
        ("opened", "dpo"),
        ("state", "dpo"),
        ("state", "ciso"),
        ("state", "dpo"),
    ]
    assert [e.details.get("to") for e in log[1:]] == ["assessed", "notifying", "closed"]
    assert all(a.at_us < b.at_us for a, b in zip(log, log[1:], strict=False))
    with pytest.raises(NotFoundError):
        book.advance("inc-nope", "assessed", by="dpo", reason="x")


def test_register_lists_every_incident_with_facts_and_reasoning(store: Store) -> None:
    book = Incidents(store)
    engine = ResponseEngine(store)
    first = _open(store, title="first")
    second = _open(store, title='second, with "quotes"', actors=["bob"])
    engine.assess(first, by="dpo", given={"aware_at": "2026-11-21T09:00:00Z"}, reason="triage")
    engine.scope(second, basis=ScopeBasis.ALL, record_by="dpo")
    entries = register(book)
    assert [e["id"] for e in entries] == [first, second]
    assert entries[0]["facts"]["aware_at"] == "2026-11-21T09:00:00Z"
    assert entries[0]["assessment"]["notify_authority"]["required"] is True
    assert entries[0]["state"] == "assessed"
    changes = [(d["change"], d["details"].get("reason")) for d in entries[0]["decisions"]]
    assert changes == [
        ("opened", None),
        ("scope", None),
        ("facts", "triage"),
        ("assessment", "triage"),
        ("state", "assessed: notify the authority"),
    ]
    assert entries[1]["decisions"][-1]["details"]["scope"]["subjects"] == 7
    rows = list(csv.DictReader(io.StringIO(register_csv(book))))
    assert tuple(rows[0]) == CSV_COLUMNS
    assert [r["title"] for r in rows] == ["first", 'second, with "quotes"']
    # The CSV's decisions are one line each (the full details are in the JSON form only, so
    # that every cell fits a spreadsheet's): when, who, what, why.
    lines = rows[0]["decisions"].split("\n")
    assert [line.split(" ", 2)[1:] for line in lines] == [
        ["dpo", "opened"],
        ["dpo", "scope" + lines[1].split("scope", 1)[1]],
        ["dpo", "facts: triage"],
        ["dpo", "assessment: triage"],
        ["dpo", "state open → assessed: assessed: notify the authority"],
    ]
    assert [line.split(" ", 1)[0] for line in lines] == [d["at"] for d in entries[0]["decisions"]]
    assert rows[0]["decisions_count"] == "5"
    assert "7 subjects" in rows[1]["decisions"]
    assert rows[1]["facts"] == "" and rows[1]["actors"] == "bob"


def test_open_refuses_incomplete_incidents(store: Store) -> None:
    book = Incidents(store)
    with pytest.raises(ValidationError, match="actor"):
        book.open(title="t", by="dpo", from_us=0)
    with pytest.raises(ValidationError, match="start"):
        book.open(title="t", by="dpo", actors=["ana"])
    with pytest.raises(ValidationError, match="ends before"):
        book.open(title="t", by="dpo", actors=["ana"], from_us=10, to_us=5)
    with pytest.raises(NotFoundError, match="alert"):
        book.open(title="t", by="dpo", alert_id="nope")
    assert book.all() == []


def test_open_from_an_alert(store: Store) -> None:
    alert_time = parse_time("2026-11-15T10:00:00Z")
    with store.writer() as w:
        w.upsert_alerts(
            [
                AlertRow(
                    "al-1", "bob", "novel", alert_time, alert_time, 3, 80.0, '["m3"]', "[]", "[]"
                )
            ]
        )
    incident = Incidents(store).open(title="t", by="dpo", alert_id="al-1", actors=["ana", "bob"])
    assert incident.actors == ("bob", "ana")
    assert incident.from_us == alert_time - 30 * DAY
    assert Incidents(store).log(incident.id)[0].details["alert"] == "al-1"


# -- CLI -----------------------------------------------------------------------------------------
def _env(settings: Settings) -> dict[str, str]:
    env = {"SENTINELLE_DATA_DIR": str(settings.data_dir)}
    if settings.database_url:
        env["SENTINELLE_DATABASE_URL"] = settings.database_url
    return env


def test_cli(store: Store, settings: Settings) -> None:
    runner = CliRunner()

    def run(*args: str) -> str:
        result = runner.invoke(cli_group, list(args), env=_env(settings))
        assert result.exit_code == 0, (result.output, result.exception)
        return result.output

    incident_id = run(
        "incident",
        "open",
        "--title",
        "harvest",
        "--actors",
        "ana,bob",
        "--from",
        FROM,
        "--to",
        TO,
        "--by",
        "dpo",
    ).strip()
    assert incident_id.startswith("inc-")
    got = json.loads(run("incident", "scope", incident_id, "--unjustified-only", "--json"))
    assert got == {
        "incident": incident_id,
        **EXPECTED_UNJUSTIFIED,
        "basis": "unjustified",
        "unjustified_only": True,
    }
    # Before an assessment the default basis is unjustified accesses only, and says so.
    assert json.loads(run("incident", "scope", incident_id, "--json")) == got
    text = run("incident", "scope", incident_id, "--all-accesses")
    assert text.startswith(f"scope of {incident_id}: all accesses, justified or not\n")
    assert "6 merchants, 13 data subjects, 516 records" in text
    top = run("incident", "scope", incident_id, "--all-accesses", "--top", "1").splitlines()
    assert len(top) == 4 and top[-1] == "  … and 5 more merchants (--top 0 shows all)"
    run("incident", "scope", incident_id, "--record", "--by", "dpo")
    # Marking it assessed by hand is refused: no assessment is recorded; assessing moves it.
    unassessed = runner.invoke(
        cli_group,
        ["incident", "advance", incident_id, "assessed", "--reason", "high risk"],
        env=_env(settings),
    )
    assert unassessed.exit_code == 1 and isinstance(unassessed.exception, TransitionError)
    assert "no assessment is recorded" in str(unassessed.exception)
    assert f"sentinelle incident assess {incident_id}" in str(unassessed.exception)
    assert Incidents(store).get(incident_id).state is State.OPEN
    run("incident", "assess", incident_id, "--by", "dpo", "--reason", "high risk")
    for target in ("notifying", "closed"):  # nothing notified yet, and notifying is due
        bad = runner.invoke(
            cli_group,
            ["incident", "advance", incident_id, target, "--reason", "x"],
            env=_env(settings),
        )
        assert isinstance(bad.exception, TransitionError), target
    entries = json.loads(run("incident", "register", "--json"))
    assert [d["change"] for d in entries[0]["decisions"]] == [
        "opened",
        "scope",
        "scope",
        "facts",
        "assessment",
        "state",
    ]
    rows = list(csv.DictReader(io.StringIO(run("incident", "register", "--csv"))))
    assert rows[0]["id"] == incident_id and rows[0]["state"] == "assessed"
    assert incident_id in run("incident", "list")
    assert "high risk" in run("incident", "show", incident_id)


def test_cli_from_alert_and_errors(
    store: Store, settings: Settings, monkeypatch: pytest.MonkeyPatch, capsys: Any
) -> None:
    alert_time = parse_time("2026-11-15T10:00:00Z")
    with store.writer() as w:
        w.upsert_alerts(
            [
                AlertRow(
                    "al-9", "bob", "novel", alert_time, alert_time, 3, 80.0, '["m3"]', "[]", "[]"
                )
            ]
        )
    for name, value in _env(settings).items():
        monkeypatch.setenv(name, value)

    def main_exit(*args: str) -> int:
        with pytest.raises(SystemExit) as stop:
            main(list(args))
        return int(stop.value.code or 0)

    assert main_exit("incident", "open", "--title", "t", "--from-alert", "al-9", "--by", "x") == 0
    incident_id = capsys.readouterr().out.strip()
    found = Incidents(store).get(incident_id)
    assert (found.actors, found.from_us) == (("bob",), alert_time - 30 * DAY)
    # The alert is escalated to it: out of the triage queue, naming its incident.
    assert store.alert_statuses(["al-9"]) == {"al-9": "escalated"}
    [decision] = store.triage_history(["al-9"])["al-9"]
    assert (decision.by, decision.incident) == ("x", incident_id)
    assert decision.reason == f"incident {incident_id} opened from this alert"
    assert main_exit("incident", "advance", incident_id, "notifying", "--reason", "r") == 1
    err = capsys.readouterr().err
    assert err.startswith("error: an incident cannot skip a state: open → notifying")
    assert "Traceback" not in err
    assert main_exit("incident", "scope", "inc-nope") == 1
    assert "no incident with id 'inc-nope'" in capsys.readouterr().err
    assert main_exit("incident", "open", "--title", "t", "--actors", "ana") == 1
    assert "give the start of the window" in capsys.readouterr().err


# -- the simulator's ground truth --------------------------------------------------------------
@pytest.mark.slow
def test_pair_harvest_truth(settings: Settings) -> None:
    sim = simulate(merchants=200, agents=30, days=24, seed=3, scenarios="pair_harvest")
    lines = list(sim.lines())
    truth = sim.truth["scenarios"][0]
    with open_store(settings) as store:
        ledger = Ledger.open(store, data_dir=settings.data_dir, origin=settings.log_origin)
        Ingestor(store, ledger).ingest(enumerate(lines, 1))
        incident = Incidents(store).open(
            title="pair harvest",
            by="dpo",
            actors=truth["actors"],
            from_us=parse_time(truth["start"]),
            to_us=parse_time(truth["end"]),
        )
        scope = compute_scope(store, incident, unjustified_only=True)
    # Every malicious access is unjustified (no ticket, or another merchant's), so each is in
    # the scope, and so are its merchants and subjects.
    malicious = set(truth["events"])
    assert malicious <= set(scope.event_ids)
    assert set(truth["merchants"]) <= set(scope.per_merchant)
    assert set(truth["subjects"]) <= scope.subject_ids
    # Restricted to the malicious events, the scope's accesses give exactly the truth.
    by_id = {
        e.id: e
        for e in map(decode_event, lines)
        if isinstance(e, AccessEvent) and e.id in malicious
    }
    assert set(by_id) == malicious
    merchants = {by_id[i].merchant for i in scope.event_ids if i in malicious}
    subjects = {s for i in scope.event_ids if i in malicious for s in by_id[i].subjects or ()}
    assert merchants == set(truth["merchants"])
    assert subjects == set(truth["subjects"])


@pytest.mark.parametrize(
    "context",
    [
        pytest.param([], id="made-up"),
        # a ticket naming neither its merchant nor its assignee
        pytest.param(
            [
                {
                    "id": "t-said",
                    "time": "2026-11-18T11:58:00Z",
                    "type": "ticket.opened",
                    "ticket": "T-MADE-UP",
                }
            ],
            id="unsaid",
        ),
    ],
)
def test_a_made_up_ticket_is_in_the_unjustified_scope(
    store: Store, settings: Settings, context: list[dict[str, str]]
) -> None:
    """The scope reads only the events of the tickets its accesses cite: one that no event
    describes is no justification there, even where none of the cited tickets has an event
    (detection takes such a ticket as stated only while the whole help desk is silent); nor
    is one whose events name no merchant and no assignee (detection binds it to its first
    citation where the help desk never names them)."""
    ingest(
        store,
        settings,
        [
            *context,
            {
                "id": "made-up",
                "time": "2026-11-18T12:00:00Z",
                "actor": {"id": "dee", "kind": "staff", "role": "agent", "team": "tier1"},
                "action": "view",
                "merchant": "m9",
                "resource": {"type": "customer", "count": 1},
                "subjects": ["c21"],
                "data": ["contact"],
                "channel": "support_console",
                "outcome": "allowed",
                "justification": {"ticket": "T-MADE-UP"},
            },
        ],
    )
    incident = Incidents(store).get(_open(store, actors=["dee"]))
    scope = compute_scope(store, incident, unjustified_only=True)
    assert scope.subject_ids == {"c21"}
    assert scope.per_merchant["m9"].unjustified_events == 1
