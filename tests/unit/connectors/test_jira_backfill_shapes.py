"""A Jira export whose issues are not shaped as the search API writes them is refused naming
the issue and the field (a ``MappingError``: exit 1, one line), never a crash."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from sentinelle.connectors import VendorMapping, jira
from sentinelle.connectors.base import MappingError

ISSUE: dict[str, Any] = {
    "id": "10001",
    "key": "SUP-1",
    "fields": {"created": "2026-11-01T10:00:00.000+0000", "project": {"key": "m-1"}},
}


@pytest.mark.parametrize(
    ("changes", "path"),
    [
        ({"changelog": {"histories": [5]}}, "issues[0] (as issue.changelog.histories.0)"),
        (
            {"changelog": {"histories": [{"id": "9", "items": [3]}]}},
            "issues[0] (as issue.changelog.histories.0.items)",
        ),
        (
            {"changelog": {"histories": [{"id": "9", "items": "assignee"}]}},
            "issues[0] (as issue.changelog.histories.0.items)",
        ),
        ({"fields": "SUP-1"}, "issues[0] (as issue.fields)"),
    ],
)
def test_a_malformed_issue_is_refused_naming_the_field(changes: dict[str, Any], path: str) -> None:
    with pytest.raises(MappingError) as refused:
        list(jira.backfill(iter([{**ISSUE, **changes}]), VendorMapping("jira")))
    assert refused.value.path == path


def test_a_well_formed_issue_still_maps() -> None:
    history = {
        "id": "9",
        "created": "2026-11-02T10:00:00.000+0000",
        "items": [{"field": "assignee", "from": None, "to": "acc-1"}],
    }
    events = list(
        jira.backfill(
            iter([{**ISSUE, "changelog": {"histories": [history]}}]), VendorMapping("jira")
        )
    )
    assert [e.type for e in events] == ["ticket.opened", "ticket.assigned"]


AGENT = {"accountId": "acc-mia"}
CUSTOMER = {"accountId": "qm:customer-1"}
STAFF = VendorMapping("jira", staff={"acc-mia": "s-mia"})


@pytest.mark.parametrize(
    ("creator", "user", "by"),
    [
        (AGENT, None, "s-mia"),  # an agent raised it (on a customer's behalf, or their own)
        (None, AGENT, "s-mia"),  # no creator field: who triggered the webhook
        (CUSTOMER, AGENT, None),  # the creator, a customer, is kept as no one
        (CUSTOMER, None, None),
        (None, None, None),
        ({"accountId": "acc-other"}, None, None),  # an agent missing from the staff table
    ],
)
def test_a_ticket_names_its_opener_when_an_agent_of_the_staff_table_made_it(
    creator: dict[str, str] | None, user: dict[str, str] | None, by: str | None
) -> None:
    fields = {**ISSUE["fields"], "creator": creator}
    payload = {"webhookEvent": "jira:issue_created", "timestamp": 1767261600000,
               "issue": {**ISSUE, "fields": fields}, "user": user}  # fmt: skip
    [opened] = jira.map(payload, STAFF, dt.datetime.now(dt.UTC))
    assert opened.type == "ticket.opened" and opened.ticket == "SUP-1"
    assert (opened.by or None) == by
    assert "customer-1" not in repr(opened)
    # The export's issues carry their creator (fields=*all): a backfill names it too.
    [backfilled] = jira.backfill(iter([{**ISSUE, "fields": fields}]), STAFF)
    assert (backfilled.by or None) == (by if creator is not None else None)


def test_a_creator_that_is_no_user_object_is_refused_naming_the_field() -> None:
    payload = {"webhookEvent": "jira:issue_created", "timestamp": 1767261600000,
               "issue": {**ISSUE, "fields": {**ISSUE["fields"], "creator": "mia"}}}  # fmt: skip
    with pytest.raises(MappingError) as refused:
        jira.map(payload, STAFF, dt.datetime.now(dt.UTC))
    assert refused.value.path == "issue.fields.creator"
