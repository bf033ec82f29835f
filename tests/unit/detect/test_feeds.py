"""``sentinelle feeds``' report: what live detection knows of the help desk's and HR's feeds,
and which of its inferences is in effect where a feed is silent. Each line could lie: say a
field is sent that no event sent in a week, or miss an inference detection makes."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

from sentinelle.detect import Engine
from sentinelle.detect.feeds import feeds_of, saved_feeds
from sentinelle.events import decode_event

START = dt.datetime(2026, 3, 2, 9, tzinfo=dt.UTC)


def _at(hours: float) -> str:
    return (START + dt.timedelta(hours=hours)).isoformat().replace("+00:00", "Z")


def context(kind: str, hours: float, **fields: Any) -> Any:
    body = {"id": f"c-{kind}-{hours}-{len(fields)}", "time": _at(hours), "type": kind, **fields}
    return decode_event(json.dumps(body))


def view(hours: float, ticket: str | None = None) -> Any:
    return decode_event(
        json.dumps(
            {
                "id": f"a-{hours}",
                "time": _at(hours),
                "actor": {"id": "ana", "kind": "staff", "team": "care"},
                "action": "view",
                "merchant": "m-1",
                "resource": {"type": "customer", "count": 1},
                "subjects": ["c-1"],
                "data": ["contact"],
                "channel": "support_console",
                "outcome": "allowed",
            }
            | ({"justification": {"ticket": ticket}} if ticket else {})
        )
    )


def read(*events: Any) -> tuple[list[str], dict[str, Any]]:
    engine = Engine()
    for event in events:
        engine.process(event)
    found = feeds_of(len(events), engine.state)
    return found.lines(), found.to_dict()


def test_a_desk_that_sends_every_field_needs_no_inference() -> None:
    lines, said = read(
        context("ticket.opened", 0, ticket="T-1", merchant="m-1", actor="ana", by="ana"),
        context("ticket.assigned", 0.1, ticket="T-1", merchant="m-1", actor="ana"),
        view(0.2, "T-1"),
        context("ticket.closed", 1, ticket="T-1", merchant="m-1"),
        context("staff.notice_given", 2, actor="bob"),
    )
    assert lines[0] == "Live detection has read 5 events, up to 2026-03-02T11:00:00Z."
    assert lines[1] == (
        "Help desk: the latest ticket event at 2026-03-02T10:00:00Z; 1 ticket(s) kept, each "
        "naming its merchant."
    )
    assert lines[2:6] == [
        "  closings: sent (the latest at 2026-03-02T10:00:00Z).",
        "  assignees: sent (the latest at 2026-03-02T09:06:00Z).",
        "  who opened them: sent (the latest at 2026-03-02T09:00:00Z).",
        "  tickets cited: by 1 access(es) in the last 7 days, 0 of them one that no ticket "
        "event names (made up, or cited before its event came).",
    ]
    assert lines[6] == "HR: notice dates of 1 actor(s), joining dates of 0."
    tickets = said["tickets"]
    assert (tickets["silent"], tickets["kept"], tickets["without_merchant"]) == (False, 1, 0)
    assert tickets["assignees"] == {"latest": "2026-03-02T09:06:00Z", "named": True}
    assert said["staff"] == {"notices": 1, "joined": 0}
    assert tickets["cited"] == {"accesses": 1, "unknown": 0}


def test_a_desk_that_leaves_fields_out_is_told_with_what_detection_infers() -> None:
    # Ticket ids and openings only, naming no merchant, no assignee, no opener; no closing
    # for more than a week; no HR feed.
    late = 8 * 24
    lines, said = read(
        context("ticket.opened", 0, ticket="T-1"),
        view(0.5, "T-1"),
        context("ticket.opened", late, ticket="T-2"),
    )
    # T-1 became m-1's case when Ana cited it; T-2, cited by no one, has no merchant yet.
    assert lines[1].endswith(
        "2 ticket(s) kept, 1 of them with no merchant yet (the help desk named none): each "
        "becomes the case of the merchant its assignee first cites it for."
    )
    assert lines[2] == (
        "  closings: none sent in the last 7 days: a ticket an agent made themselves is judged "
        "once unused, not at its closing."
    )
    assert lines[3] == (
        "  assignees: none sent in the last 7 days: the first actor citing a ticket for its "
        "merchant is taken as its assignee."
    )
    assert lines[4] == (
        "  who opened them: none sent in the last 7 days: a ticket of one assignee is taken as "
        "theirs (fake tickets)."
    )
    assert lines[6].startswith("HR: notice dates of 0 actor(s), joining dates of 0: none, so ")
    tickets = said["tickets"]
    assert tickets["closings"] == {"latest": None, "sent": False}
    assert tickets["openers"] == {"latest": None, "named": False}
    assert tickets["without_merchant"] == 1


def test_closings_not_yet_due_are_not_called_missing() -> None:
    lines, said = read(context("ticket.opened", 0, ticket="T-1", merchant="m-1"), view(1, "T-1"))
    assert lines[2] == "  closings: none yet, as ticket events began less than 7 days ago."
    assert said["tickets"]["closings"]["sent"] is True


def test_no_help_desk_connected_is_said_first() -> None:
    lines, said = read(view(0, "ZD-1"), view(1, "ZD-2"))
    assert lines[1] == (
        "Help desk: no ticket event in the last 7 days (none yet): tickets that accesses cite "
        "are taken as stated, so tickets made up or lent go unseen. Connect the help desk "
        "(docs/connectors.md)."
    )
    assert not any(line.startswith("  ") for line in lines)  # nothing of fields never sent
    assert said["tickets"]["silent"] is True and said["tickets"]["latest"] is None
    # A feed that stopped: its latest event is named.
    stopped, _ = read(context("ticket.opened", 0, ticket="T-1", merchant="m-1"), view(9 * 24))
    assert "(the latest at 2026-03-02T09:00:00Z)" in stopped[1]


def test_tickets_cited_by_other_ids_than_the_help_desks_are_named() -> None:
    # The help desk names its tickets 1, 2, …; the support console cites ZD-1, ZD-2, …: every
    # citation is of a ticket no event names, and each access counts as citing none.
    events: list[Any] = [context("ticket.opened", 0, ticket="1", merchant="m-1", actor="ana")]
    events += [view(0.01 * i, f"ZD-{i}") for i in range(1, 21)]
    lines, said = read(*events)
    assert lines[5] == (
        "  tickets cited: 20 of the 20 accesses citing a ticket in the last 7 days cited one "
        "that no ticket event names, and each counts as citing no ticket. Do the access "
        "events cite tickets by the help desk's own ids? A connector's ticket_prefix turns "
        "its 123 into ZD-123; connect every help desk whose tickets staff cite "
        "(docs/connectors.md)."
    )
    assert said["tickets"]["cited"] == {"accesses": 20, "unknown": 20}
    # A few made-up tickets among many known ones are counted, not called a mismatch.
    events = [context("ticket.opened", 0, ticket="1", merchant="m-1", actor="ana")]
    events += [view(0.01 * i, "1") for i in range(30)]
    events += [view(0.5 + 0.01 * i, f"ZD-{i}") for i in range(25)]
    lines, _ = read(*events)
    assert lines[5].startswith("  tickets cited: by 55 access(es) in the last 7 days, 25 of")
    # The count covers the last 7 days only.
    events = [context("ticket.opened", 0, ticket="1", merchant="m-1", actor="ana")]
    events += [view(0.01 * i, f"ZD-{i}") for i in range(1, 21)]
    events += [context("ticket.opened", 9 * 24, ticket="2", merchant="m-1", actor="ana")]
    events += [view(9 * 24 + 1, "2")]
    lines, said = read(*events)
    assert said["tickets"]["cited"] == {"accesses": 1, "unknown": 0}


class _Saved:
    """A store holding one saved detection state (what saved_feeds reads of a store)."""

    def __init__(self, cursor: int, blob: bytes) -> None:
        self.saved = (cursor, blob)

    def saved_detect_state(self) -> tuple[int, bytes]:
        return self.saved


def test_the_saved_state_reports_as_the_engine_s_own() -> None:
    # saved_feeds reads the state a store holds: the report is the one of the engine's state.
    engine = Engine()
    events = [
        context("ticket.opened", 0, ticket="T-1", merchant="m-1", actor="ana", by="ana"),
        view(0.2, "T-1"),
        *(view(0.3 + 0.01 * i, f"ZD-{i}") for i in range(20)),
        context("ticket.closed", 1, ticket="T-1", merchant="m-1"),
        context("staff.notice_given", 2, actor="bob"),
    ]
    for event in events:
        engine.process(event)
    whole = feeds_of(len(events), engine.state)
    read = saved_feeds(_Saved(len(events), engine.dump_state()), "here")  # type: ignore[arg-type]
    assert read == whole
    assert read.unmatched == 20 and read.notices == 1
