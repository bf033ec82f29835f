"""How a viewer sees the platform's staff: by id, or pseudonymously (team, role, country and a
day-scoped pseudonym), per ``Settings.merchant_staff_identity``. Below the routes: the
merchant's accesses (``api.routes.merchants``), its grants (``api.routes.grants``) and the
console's pages (``web.pages``) share it, so a merchant user sees a staff member the same way
everywhere; the rules are those of :mod:`sentinelle.transparency.accesses`.

A merchant user, under the ``pseudonymous`` policy (the default), sees of a grant:

* its grantee as the accesses list shows the staff member on the day it was asked (the same
  pseudonym as that day's accesses), with the team, role and country of the newest access
  citing the grant, else the team of the grantee's activity;
* who asked, approved, denied, revoked or opened it: by name when it is the merchant's own
  (its accounts, keys and e-mail links) or one of the platform's services (the guard's and
  ingest keys), else not at all (``None``; "platform staff" on a page). Staff are never named.

The platform's own roles always see names.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

from sentinelle.access import Principal, Role
from sentinelle.api.deps import State
from sentinelle.store.grants import GrantRow
from sentinelle.transparency.accesses import Pseudonyms

__all__ = ["STAFF", "StaffView", "names_staff", "pseudonyms_of"]

#: How a page names someone hidden from the viewer.
STAFF: Final = "platform staff"
# Keys of these roles are services, not people: shown by name, as apps and integrations are.
_SERVICES: Final = frozenset({Role.GUARD.value, Role.INGEST.value, Role.SCIM.value})


def names_staff(principal: Principal, identity: str) -> bool:
    """Whether ``principal`` sees staff by name: the platform's roles always; a merchant's
    account or key when the policy (``merchant_staff_identity``) is ``named``."""
    return principal.role is not Role.MERCHANT or identity == "named"


@functools.cache
def _pseudonyms(data_dir: Path) -> Pseudonyms:
    return Pseudonyms.load_or_create(data_dir)


def pseudonyms_of(state: State) -> Pseudonyms:
    """The pseudonym key of ``state``'s data directory (made on first use)."""
    return _pseudonyms(state.settings.data_dir.absolute())


@dataclass(slots=True)
class StaffView:
    """What ``principal`` sees of the people around ``merchant``'s grants; built per request,
    its lookups read through ``store`` (a read connection or the store)."""

    merchant: str
    named: bool
    pseudonyms: Pseudonyms
    store: Any
    _labels: dict[str, bool] = field(default_factory=dict)
    _keys: dict[str, Any] | None = None

    @classmethod
    def of(cls, state: State, principal: Principal, merchant: str, store: Any) -> StaffView:
        """The view of ``principal`` under ``state``'s policy."""
        named = names_staff(principal, state.settings.merchant_staff_identity)
        return cls(merchant, named, pseudonyms_of(state), store)

    @classmethod
    def of_merchant(cls, state: State, merchant: str, store: Any) -> StaffView:
        """The view of ``merchant`` itself, with no account or key: the page an e-mail link
        opens."""
        named = state.settings.merchant_staff_identity == "named"
        return cls(merchant, named, pseudonyms_of(state), store)

    # -- who did something ---------------------------------------------------------------
    def shows(self, label: str) -> bool:
        """Whether a ``by`` label (``key:NAME``, an account's e-mail, ``merchant:M (e-mail
        link)``) is shown: always when staff are named; else when it is the merchant's own
        or a service."""
        if self.named or not label:
            return True
        known = self._labels.get(label)
        if known is None:
            known = self._labels[label] = self._is_mine_or_service(label)
        return known

    def _is_mine_or_service(self, label: str) -> bool:
        if label.startswith(f"merchant:{self.merchant} "):
            return True
        if label.startswith("key:"):
            if self._keys is None:
                self._keys = {k.name: k for k in self.store.list_api_keys()}
            key = self._keys.get(label[4:])
            return key is not None and (key.merchant == self.merchant or key.role in _SERVICES)
        user = self.store.user(label)
        return user is not None and user.merchant == self.merchant

    def label(self, label: str) -> str | None:
        """``label`` if shown, else ``None``."""
        return label if self.shows(label) else None

    # -- the grantee ---------------------------------------------------------------------
    def grantee(self, row: GrantRow) -> dict[str, Any]:
        """The grant's actor as this viewer sees it: ``{"actor", "named", "team", "role",
        "country"}`` (``actor`` the id, or the pseudonym of the day it was asked)."""
        team = role = country = None
        used = self.store.grant_accesses(row, limit=1)
        if used:
            event = json.loads(used[0][1])
            actor = event.get("actor") or {}
            team, role = actor.get("team"), actor.get("role")
            country = (event.get("source") or {}).get("country")
        if team is None:
            team = self.store.actor_teams([row.actor]).get(row.actor)
        who = row.actor
        if not self.named:
            who = self.pseudonyms.of_grantee(row)
        return {"actor": who, "named": self.named, "team": team, "role": role, "country": country}

    def access_actor(self, event: Mapping[str, Any]) -> Mapping[str, Any]:
        """A stored access event's ``actor`` as this viewer sees it: a staff member's id
        replaced by the pseudonym the accesses list gives it (that day, this merchant)."""
        actor = event.get("actor") or {}
        if self.named or actor.get("kind") != "staff":
            return actor
        day = str(event.get("time", ""))[:10]
        return {**actor, "id": self.pseudonyms.of(self.merchant, str(actor.get("id")), day)}

    # -- the API's answers ---------------------------------------------------------------
    def record(self, record: dict[str, Any], row: GrantRow) -> dict[str, Any]:
        """A grant record of the API (``grant_record(...).to_dict()``, or its detail) as this
        viewer may see it: ``actor`` per policy and ``actor_shown`` (team, role, country),
        who asked and who approved, the history's ``by`` and ``seen_by``, per :meth:`shows`."""
        shown = self.grantee(row)
        out = {**record, "actor": shown["actor"], "actor_shown": shown}
        if self.named:
            return out
        out["requested_by"] = self.label(str(record.get("requested_by", "")))
        out["approvals"] = [
            {**a, "by": a.get("by") if a.get("as") == "merchant" else self.label(str(a["by"]))}
            for a in record.get("approvals", ())
        ]
        if "history" in record:
            out["history"] = [
                {**s, "by": self.label(str(s.get("by", "")))} for s in record["history"]
            ]
        if "seen_by" in record:
            out["seen_by"] = [self.label(str(s)) for s in record["seen_by"]]
        return out

    def records(self, records: Sequence[dict[str, Any]], rows: Sequence[GrantRow]) -> list[Any]:
        """:meth:`record` of each."""
        return [self.record(r, row) for r, row in zip(records, rows, strict=True)]
