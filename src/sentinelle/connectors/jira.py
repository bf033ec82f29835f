"""Jira Service Management: admin webhooks (``jira:issue_created``, ``jira:issue_updated``
with its changelog) and a JSON export of issues with their changelogs.

Signature (https://developer.atlassian.com/cloud/jira/platform/webhooks/#secure-admin-webhooks):
an admin webhook saved with a secret carries ``X-Hub-Signature: sha256=<hex>``, the
HMAC-SHA256 of the raw body keyed with the secret (WebSub's ``method=signature``). Webhooks
registered by apps (OAuth 2.0, Connect) are not signed so: this receiver refuses them.

``jira:issue_created`` → ``ticket.opened`` (``by`` its creator, else the webhook's ``user``,
if an agent of the staff table; and ``ticket.assigned`` if it has an assignee);
``jira:issue_updated`` → per changelog item: ``assignee`` set → ``ticket.assigned``;
``resolution`` set, or ``status`` moved to the issue's current status whose category is
``done`` → ``ticket.closed``; ``resolution`` cleared → ``ticket.opened`` (reopened). The
ticket is the issue key (``SUP-12``, what agents cite); the merchant, by default, the project
key (``issue.fields.project.key``): point ``merchant_field`` at the Organizations field
(``issue.fields.customfield_10002.0.id``) to use JSM organizations.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator, Mapping
from typing import Any, Final

from sentinelle.connectors.base import (
    History,
    MappingError,
    SignatureError,
    VendorMapping,
    at,
    constant_time_equal,
    hmac_sha256,
    id_text,
    no_history,
    parse_time,
    per_record,
    require_header,
)
from sentinelle.events import ContextEvent

__all__ = ["MERCHANT_FIELD", "SIGNATURE_HEADER", "backfill", "map", "verify"]

SIGNATURE_HEADER: Final = "X-Hub-Signature"
MERCHANT_FIELD: Final = "issue.fields.project.key"


def verify(headers: Mapping[str, str], body: bytes, secret: str, now: dt.datetime) -> None:
    """Check ``X-Hub-Signature`` against the body. Jira signs no time, so there is no replay
    window to check: a replayed delivery has the ids of the original and is stored once.
    Raises :class:`SignatureError`."""
    del now
    method, _, digest = require_header(headers, SIGNATURE_HEADER).partition("=")
    if method != "sha256" or not digest:
        raise SignatureError(f"{SIGNATURE_HEADER} must be sha256=<hex digest>")
    if not constant_time_equal(digest.lower(), hmac_sha256(secret, body).hex()):
        raise SignatureError(f"{SIGNATURE_HEADER} does not match the body")


def map(
    payload: Any, config: VendorMapping, received: dt.datetime, history: History = no_history
) -> list[ContextEvent]:
    """The ticket events of one webhook payload. Raises :class:`MappingError`."""
    del received, history  # Jira dates every delivery, and sends the changes: reopenings too
    if not isinstance(payload, dict):
        raise MappingError("$", "must be a JSON object")
    kind = payload.get("webhookEvent")
    if not isinstance(kind, str):
        raise MappingError("webhookEvent", "missing")
    if kind not in ("jira:issue_created", "jira:issue_updated"):
        return []
    ticket = id_text(at(payload, "issue.key"), "issue.key")
    time = parse_time(payload.get("timestamp"), "timestamp")
    if kind == "jira:issue_created":
        key = id_text(at(payload, "issue.id"), "issue.id")
        issue = config.ticket(ticket, config.merchant_of(payload, MERCHANT_FIELD), "issue.key")
        found = [issue.event(key, "ticket.opened", time, by=_opener(payload, config))]
        agent = _agent(at(payload, "issue.fields.assignee"), "issue.fields.assignee")
        if agent is not None:
            found.append(issue.event(key, "ticket.assigned", time, config.actor(agent)))
        return found
    items = at(payload, "changelog.items")
    if not isinstance(items, list):
        return []  # an update with no changelog (a comment, a property): nothing to map
    key = id_text(at(payload, "changelog.id"), "changelog.id")
    status_now = at(payload, "issue.fields.status.id")
    done_now = at(payload, "issue.fields.status.statusCategory.key") == "done"
    assigned: str | None = None
    closed = reopened = False
    for n, item in enumerate(items):
        if not isinstance(item, dict):
            raise MappingError(f"changelog.items.{n}", "must be a JSON object")
        name = item.get("fieldId") or item.get("field")
        if name == "assignee" and item.get("to") not in (None, ""):
            assigned = id_text(item["to"], f"changelog.items.{n}.to")
        elif name == "resolution":
            closed = closed or item.get("to") not in (None, "")
            reopened = reopened or (item.get("to") in (None, "") and bool(item.get("from")))
        elif name == "status" and done_now and str(item.get("to")) == str(status_now):
            closed = True
    if assigned is None and not closed and not reopened:
        return []
    issue = config.ticket(ticket, config.merchant_of(payload, MERCHANT_FIELD), "issue.key")
    found = []
    if reopened and not closed:
        found.append(issue.event(key, "ticket.opened", time))
    if assigned is not None:
        found.append(issue.event(key, "ticket.assigned", time, config.actor(assigned)))
    if closed:
        found.append(issue.event(key, "ticket.closed", time))
    return found


def _opener(payload: dict[str, Any], config: VendorMapping) -> str | None:
    """Who made the issue, if an agent of the staff table: ``issue.fields.creator`` (an agent
    raising a request on a customer's behalf is its creator, the customer its reporter), else
    the webhook's ``user`` (who triggered it); a customer's id is never kept."""
    for path in ("issue.fields.creator", "user"):
        found = _agent(at(payload, path), path)
        if found is not None:
            return config.staff.get(found)
    return None


def _agent(user: Any, path: str) -> str | None:
    """A Jira user's id: ``accountId`` (Cloud), else ``name`` (Data Center); ``None`` if no one."""
    if user in (None, ""):
        return None
    if not isinstance(user, dict):
        raise MappingError(path, "must be a user object")
    found = user.get("accountId") or user.get("name")
    return id_text(found, f"{path}.accountId")


def backfill(
    records: Iterator[Any], config: VendorMapping, history: History = no_history
) -> Iterator[ContextEvent]:
    """Events from issues exported as JSON by the search API with their changelogs
    (``GET /rest/api/3/search/jql?expand=changelog&fields=*all``, pages of
    ``{"issues": [...]}``): each issue's creation (its assignee then: the first ``assignee``
    history item's ``from``, else the current one), then each history entry as the webhook
    would have sent it. Raises :class:`MappingError` naming the issue and the field."""
    del history  # the changelogs give every change, reopenings too
    return per_record(records, "issues", lambda issue: _issue(issue, config))


def _issue(issue: dict[str, Any], config: VendorMapping) -> Iterator[ContextEvent]:
    histories = at(issue, "changelog.histories") or []
    if not isinstance(histories, list):
        raise MappingError("issue.changelog.histories", "must be a list")
    for n, history in enumerate(histories):
        if not isinstance(history, dict):
            raise MappingError(f"issue.changelog.histories.{n}", "must be a JSON object")
        items = history.get("items", [])
        if not isinstance(items, list) or not all(isinstance(i, dict) for i in items):
            raise MappingError(
                f"issue.changelog.histories.{n}.items", "must be a list of JSON objects"
            )
    histories = sorted(histories, key=lambda h: str(h.get("created", "")))
    if not isinstance(issue.get("fields") or {}, dict):
        raise MappingError("issue.fields", "must be a JSON object")
    fields = dict(issue.get("fields") or {})
    first = [
        item
        for h in histories
        for item in h.get("items", [])
        if (item.get("fieldId") or item.get("field")) == "assignee"
    ]
    if first:  # who held it at creation, not now
        origin = first[0].get("from")
        fields["assignee"] = {"accountId": origin} if origin else None
    created = {**issue, "fields": fields}
    yield from map(
        {
            "webhookEvent": "jira:issue_created",
            "timestamp": fields.get("created"),
            "issue": created,
        },
        config,
        dt.datetime.now(dt.UTC),
    )
    for history in histories:
        # The status category only says "done" for the issue's current status: an earlier
        # closing shows through its resolution item (JSM workflows set one when they resolve).
        yield from map(
            {
                "webhookEvent": "jira:issue_updated",
                "timestamp": history.get("created"),
                "issue": issue,
                "changelog": {"id": history.get("id"), "items": history.get("items", [])},
            },
            config,
            dt.datetime.now(dt.UTC),
        )
