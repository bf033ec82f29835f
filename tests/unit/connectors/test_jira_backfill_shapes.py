"""A Jira export whose issues are not shaped as the search API writes them is refused naming
the issue and the field (a ``MappingError``: exit 1, one line), never a crash."""

from __future__ import annotations

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
