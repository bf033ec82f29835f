"""The guard policy: who may do what to which customer data, on what grounds — as data.

A TOML file (see ``conf/guard.example.toml`` and ``docs/guard.md``) is read with the standard
library's :mod:`tomllib` and validated into frozen, typed records once, at start-up, so that a
decision (:func:`sentinelle.guard.decide.decide`) only looks things up. Validation is exact and
complete: every problem is reported at once (not the first only), each naming its TOML key
path and, when it can be found, its line — ``line 14: teams.tier1.actions[2]: "exprot" is not
an action (view, search, export, download, update, delete)`` — and unknown keys are refused,
since a misspelt key silently ignored would be a rule silently not applied.

What can only be made stricter by a file is made so by construction: grant durations are
capped at 14 days and break-glass at 8 hours (a policy above either is refused, not clipped),
and an action that needs approval cannot fail open when Sentinelle is unreachable (that
would let anyone who can block the network skip the approval).
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import Any, Final, Literal

from sentinelle.errors import ConfigError
from sentinelle.events.model import ACCESS_ACTIONS, CHANNELS, DATA_CATEGORIES
from sentinelle.timeutil import HOUR, MINUTE

__all__ = [
    "APPROVERS",
    "DEFAULT_APPROVAL_ACTIONS",
    "DEFAULT_BULK_RECORDS",
    "BUILTIN_PURPOSES",
    "FAIL_MODES",
    "MAX_BREAK_GLASS_MINUTES",
    "MAX_GRANT_HOURS",
    "Access",
    "Approval",
    "BreakGlass",
    "MerchantRule",
    "Policy",
    "PolicyError",
    "Purpose",
    "Response",
    "Team",
    "default_fail_modes",
    "fail_mode",
    "load_policy",
    "never_open",
    "parse_policy",
]

MAX_GRANT_HOURS: Final = 14 * 24  # no grant lives longer than 14 days, whatever a policy says
MAX_BREAK_GLASS_MINUTES: Final = 8 * 60  # break-glass longer than a working day is not one
DEFAULT_TICKET_PATTERN: Final = r"[A-Za-z][A-Za-z0-9]{0,15}-[0-9]{1,12}"
APPROVERS: Final = ("merchant", "staff")  # who can approve a grant: the merchant, a 2nd staff
FAIL_MODES: Final = ("open", "closed")
UNREACHABLE_KEYS: Final = (*ACCESS_ACTIONS, "bulk_list")
Approver = Literal["merchant", "staff"]
FailMode = Literal["open", "closed"]
#: What needs an approved grant unless a policy says otherwise (``approval.actions``).
DEFAULT_APPROVAL_ACTIONS: Final = ("export", "download")
DEFAULT_BULK_RECORDS: Final = 10


def default_fail_modes(needs_approval: Iterable[str]) -> dict[str, FailMode]:
    """The ``[unreachable]`` defaults: ``closed`` for what needs approval, deletions and bulk
    lists, ``open`` for the rest."""
    closed = {*needs_approval, "bulk_list", "delete"}
    return {key: "closed" if key in closed else "open" for key in UNREACHABLE_KEYS}


def never_open(needs_approval: Iterable[str]) -> frozenset[str]:
    """What may never fail open: what needs approval, and bulk lists (whoever can cut the
    network would skip the approval)."""
    return frozenset({*needs_approval, "bulk_list"})


def fail_mode(
    modes: Mapping[str, FailMode], bulk_records: int, action: str, records: int
) -> FailMode:
    """``open`` or ``closed`` for ``action`` on ``records`` customers, by ``modes`` (each
    action's, and ``bulk_list``'s for ``bulk_records`` customers or more)."""
    if records >= bulk_records and modes["bulk_list"] == "closed":
        return "closed"
    return modes[action]


class PolicyError(ConfigError):
    """A guard policy was refused: ``problems`` are its ``(line or 0, key path, message)``."""

    def __init__(self, source: str, problems: list[tuple[int, str, str]]) -> None:
        self.source = source
        # In the file's order (a problem without a line after those with one).
        self.problems = sorted(problems, key=lambda p: p[0] or 1 << 30)
        problems = self.problems
        lines = [
            f"{'line ' + str(line) + ': ' if line else ''}{path}: {message}"
            for line, path, message in problems
        ]
        super().__init__(f"invalid guard policy {source}:\n" + "\n".join(lines))


@dataclass(frozen=True, slots=True)
class Purpose:
    """A kind of request and the data categories it may show: everything else is masked."""

    name: str
    show: frozenset[str]
    description: str = ""


# The built-in vocabulary of purposes. A ticket's reason (``ticket.opened``'s ``reason``) or
# the request's stated purpose names one; a policy may redefine them or add its own.
BUILTIN_PURPOSES: Final[Mapping[str, Purpose]] = MappingProxyType(
    {
        p.name: p
        for p in (
            Purpose(
                "general",
                frozenset({"contact", "order_details"}),
                "A question that names no purpose: who the customer is and their orders.",
            ),
            Purpose(
                "shipping_question",
                frozenset({"address", "order_details"}),
                "Where is my parcel, a delivery address to correct: address and orders; "
                "payment and phone stay hidden.",
            ),
            Purpose(
                "order_question",
                frozenset({"order_details"}),
                "An item missing or wrong, an order to change: the orders only.",
            ),
            Purpose(
                "refund",
                frozenset({"order_details", "payment_partial"}),
                "A refund or a return: the orders and the card's last digits.",
            ),
            Purpose(
                "payment_issue",
                frozenset({"order_details", "payment_partial", "financial"}),
                "A declined or double charge: orders, partial card data, payment records.",
            ),
            Purpose(
                "account_access",
                frozenset({"contact"}),
                "A login problem, an e-mail or phone to change: the contact details.",
            ),
            Purpose(
                "data_request",
                frozenset({"contact", "address", "order_details", "payment_partial"}),
                "A data subject's request (access, erasure, correction, GDPR Art. 15-17).",
            ),
            Purpose(
                "fraud_review",
                frozenset(
                    {
                        "contact",
                        "address",
                        "order_details",
                        "payment_partial",
                        "financial",
                        "location",
                        "behavioral",
                    }
                ),
                "A suspected fraud: orders, addresses, payments, where and how they were made.",
            ),
            Purpose(
                "merchant_request",
                frozenset({"contact", "address", "order_details"}),
                "The merchant asked for its own customers' data (a list, an export).",
            ),
        )
    }
)


@dataclass(frozen=True, slots=True)
class Access:
    """What a team, or a role within it, may do: actions, channels, data categories (the most
    it may ever see; a purpose narrows it), purposes (``None``: every one), and whether its
    members may work on colleagues' tickets (leads, QA)."""

    actions: frozenset[str]
    channels: frozenset[str]
    categories: frozenset[str]
    purposes: frozenset[str] | None = None
    review_tickets: bool = False


@dataclass(frozen=True, slots=True)
class Team:
    """A team's access and its roles' (each role replaces the keys it gives)."""

    name: str
    access: Access
    roles: Mapping[str, Access]


@dataclass(frozen=True, slots=True)
class Approval:
    """What needs an approved grant, and whose approvals a grant needs."""

    actions: frozenset[str]
    bulk_records: int
    approvers: tuple[Approver, ...]
    #: A request nobody answered within this long expires (it stays in history).
    request_us: int = 24 * HOUR
    #: A signed e-mail approval link is valid this long (and used once).
    link_us: int = 24 * HOUR


@dataclass(frozen=True, slots=True)
class Response:
    """The automatic response to an alert: at ``suspend_at`` severity or above (``None``: never),
    the alert's actor is suspended (grants revoked, every decision denied) unless the alert's
    detector is ``exempt`` (break-glass alerts ask for a review, not a suspension); with
    ``escalate`` the alert is escalated to an incident too."""

    suspend_at: int | None = 3  # Severity.HIGH
    exempt: frozenset[str] = frozenset({"break_glass"})
    escalate: bool = True


@dataclass(frozen=True, slots=True)
class BreakGlass:
    """Access in an emergency, on the actor's stated reason alone; a high alert follows."""

    enabled: bool
    duration_us: int
    actions: frozenset[str]
    min_reason: int


@dataclass(frozen=True, slots=True)
class MerchantRule:
    """One merchant's stricter rules: approve every view, always mask some categories, other
    approvers, shorter grants."""

    approve_views: bool = False
    mask: frozenset[str] = frozenset()
    approvers: tuple[Approver, ...] | None = None
    grant_us: int | None = None


_NO_RULE: Final = MerchantRule()


@dataclass(frozen=True, slots=True)
class Policy:
    """A validated guard policy (see the module docstring and ``docs/guard.md``)."""

    default_purpose: str
    ticket_pattern: re.Pattern[str]
    grant_us: int
    max_grant_us: int
    purposes: Mapping[str, Purpose]
    teams: Mapping[str, Team]
    approval: Approval
    break_glass: BreakGlass
    merchants: Mapping[str, MerchantRule]
    unreachable: Mapping[str, FailMode]
    response: Response = Response()

    def access_of(self, team: str | None, role: str | None) -> Access | None:
        """The access of ``role`` in ``team`` (the team's own without a known role); ``None``
        when the team is not in the policy."""
        found = self.teams.get(team) if team is not None else None
        if found is None:
            return None
        if role is not None:
            return found.roles.get(role, found.access)
        return found.access

    def merchant(self, merchant: str) -> MerchantRule:
        """The merchant's override, or the no-op rule."""
        return self.merchants.get(merchant, _NO_RULE)

    def approvers_for(self, merchant: str) -> tuple[Approver, ...]:
        """Whose approvals a grant at ``merchant`` needs."""
        rule = self.merchants.get(merchant)
        if rule is not None and rule.approvers is not None:
            return rule.approvers
        return self.approval.approvers

    def grant_duration_us(self, merchant: str) -> int:
        """How long a grant at ``merchant`` lives once approved (never above the cap)."""
        rule = self.merchants.get(merchant)
        if rule is not None and rule.grant_us is not None:
            return rule.grant_us
        return self.grant_us

    def fail_mode(self, action: str, records: int) -> FailMode:
        """What a client does with a request when Sentinelle cannot be reached: ``closed``
        (refuse) or ``open`` (serve, and report the access later)."""
        return fail_mode(self.unreachable, self.approval.bulk_records, action, records)


# -- reading -------------------------------------------------------------------------------


def load_policy(path: Path) -> Policy:
    """Read and validate the policy file ``path``.

    Raises :class:`PolicyError` (a :class:`ConfigError`) listing every problem with its key
    path and line, or :class:`ConfigError` when the file cannot be read or is not TOML.
    """
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"cannot read guard policy {path}: {exc.strerror or exc}") from None
    except UnicodeDecodeError:
        raise ConfigError(f"cannot read guard policy {path}: not UTF-8 text") from None
    return parse_policy(text, source=str(path))


def parse_policy(text: str, *, source: str = "<policy>") -> Policy:
    """Validate the TOML ``text`` of a policy; ``source`` names it in errors."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"cannot read guard policy {source}: {exc}") from None
    reader = _Reader(text)
    policy = reader.policy(data)
    if reader.problems or policy is None:
        raise PolicyError(source, reader.problems)
    return policy


_TOP: Final = (
    "defaults",
    "purposes",
    "teams",
    "approval",
    "break_glass",
    "merchants",
    "unreachable",
    "response",
)
_ACCESS_KEYS: Final = ("actions", "channels", "categories", "purposes", "review_tickets")


class _Reader:
    """Walks the parsed TOML, collecting problems as ``(line, path, message)``."""

    def __init__(self, text: str) -> None:
        self.problems: list[tuple[int, str, str]] = []
        self._lines = text.splitlines()

    # -- problems ---------------------------------------------------------------------------
    def bad(self, path: tuple[str | int, ...], message: str) -> None:
        self.problems.append((self._line_of(path), _dotted(path), message))

    def _line_of(self, path: tuple[str | int, ...]) -> int:
        """The line of ``path``'s key under its table header, best effort (0: not found).

        tomllib gives no positions; a header ``[a.b]`` (or ``[[…]]``) and then ``key =`` is
        what a person writes, and what this finds. Dotted keys and inline tables fall back to
        the nearest table found.
        """
        keys = [p for p in path if isinstance(p, str)]
        for cut in range(len(keys), -1, -1):
            table, rest = keys[:cut], keys[cut:]
            start = self._header(table) if table else 0
            if start is None:
                continue
            if not rest:
                return start
            found = self._key(rest[0], start)
            return found or start
        return 0

    def _header(self, table: list[str]) -> int | None:
        for number, line in enumerate(self._lines, 1):
            stripped = line.strip()
            if stripped.startswith("[") and "]" in stripped:
                name = stripped.strip("[").split("]", 1)[0]
                parts = [p.strip().strip("\"'") for p in _split_dotted(name)]
                if parts == table:
                    return number
        return None

    def _key(self, key: str, start: int) -> int:
        for number in range(start + 1 if start else 1, len(self._lines) + 1):
            stripped = self._lines[number - 1].strip()
            if stripped.startswith("["):
                return 0
            name = stripped.split("=", 1)[0].strip().strip("\"'")
            if "=" in stripped and name == key:
                return number
        return 0

    # -- shapes -----------------------------------------------------------------------------
    def table(
        self, value: Any, path: tuple[str | int, ...], keys: tuple[str, ...]
    ) -> dict[str, Any]:
        if not isinstance(value, dict):
            self.bad(path, f"must be a table, not {_kind(value)}")
            return {}
        for key in value:
            if key not in keys:
                self.bad((*path, key), f"unknown key; known here: {', '.join(keys)}")
        return value

    def number(
        self, value: Any, path: tuple[str | int, ...], *, low: float, high: float, unit: str
    ) -> float | None:
        if isinstance(value, bool) or not isinstance(value, int | float):
            self.bad(path, f"must be a number of {unit}, not {_kind(value)}")
            return None
        within = (value > 0 if low == 0 else value >= low) and value <= high
        if not within:
            bounds = f"above 0 and at most {high:g}" if low == 0 else f"{low:g} to {high:g}"
            self.bad(path, f"{value:g} {unit} is out of bounds: must be {bounds} {unit}")
            return None
        return float(value)

    def boolean(self, value: Any, path: tuple[str | int, ...]) -> bool:
        if not isinstance(value, bool):
            self.bad(path, f"must be true or false, not {_kind(value)}")
            return False
        return value

    def text(self, value: Any, path: tuple[str | int, ...], *, limit: int = 256) -> str | None:
        if not isinstance(value, str):
            self.bad(path, f"must be a string, not {_kind(value)}")
            return None
        if len(value) > limit:
            self.bad(path, f"is {len(value)} characters long; at most {limit}")
            return None
        return value

    def names(
        self,
        value: Any,
        path: tuple[str | int, ...],
        known: tuple[str, ...] | list[str],
        what: str,
        *,
        empty: bool = True,
    ) -> frozenset[str] | None:
        """A list of names from ``known`` (each bad one reported at its index)."""
        if not isinstance(value, list):
            plural = what[:-1] + "ies" if what.endswith("y") else what + "s"
            self.bad(path, f"must be a list of {plural}, not {_kind(value)}")
            return None
        if not value and not empty:
            self.bad(path, f"must name at least one {what}")
            return None
        ok = True
        for i, item in enumerate(value):
            if not isinstance(item, str) or item not in known:
                shown = f'"{item}"' if isinstance(item, str) else _kind(item)
                self.bad((*path, i), f"{shown} is not {_article(what)} ({', '.join(known)})")
                ok = False
        return frozenset(value) if ok else None

    # -- sections ---------------------------------------------------------------------------
    def policy(self, data: dict[str, Any]) -> Policy | None:
        self.table(data, (), _TOP)
        defaults = self.table(data.get("defaults", {}), ("defaults",), _DEFAULT_KEYS)
        purposes = self.purposes(data.get("purposes", {}))
        default_purpose = defaults.get("purpose", "general")
        if isinstance(default_purpose, str) and default_purpose not in purposes:
            self.bad(
                ("defaults", "purpose"),
                f'"{default_purpose}" is not a purpose ({", ".join(purposes)})',
            )
        elif not isinstance(default_purpose, str):
            self.bad(("defaults", "purpose"), f"must be a string, not {_kind(default_purpose)}")
        pattern = self.pattern(defaults.get("ticket_pattern", DEFAULT_TICKET_PATTERN))
        max_hours = self.number(
            defaults.get("max_grant_hours", MAX_GRANT_HOURS),
            ("defaults", "max_grant_hours"),
            low=0,
            high=MAX_GRANT_HOURS,
            unit="hours",
        )
        cap = max_hours if max_hours is not None else MAX_GRANT_HOURS
        grant_hours = self.number(
            defaults.get("grant_hours", 8.0),
            ("defaults", "grant_hours"),
            low=0,
            high=cap,
            unit="hours",
        )
        teams = self.teams(data.get("teams"), purposes)
        approval = self.approval(data.get("approval", {}))
        break_glass = self.break_glass(data.get("break_glass", {}))
        merchants = self.merchants(data.get("merchants", {}), cap)
        unreachable = self.unreachable(data.get("unreachable", {}), approval)
        response = self.response(data.get("response", {}))
        if (
            self.problems
            or pattern is None
            or grant_hours is None
            or max_hours is None
            or approval is None
            or break_glass is None
            or response is None
            or not isinstance(default_purpose, str)
        ):
            return None
        return Policy(
            default_purpose=default_purpose,
            ticket_pattern=pattern,
            grant_us=round(grant_hours * HOUR),
            max_grant_us=round(max_hours * HOUR),
            purposes=MappingProxyType(purposes),
            teams=MappingProxyType(teams),
            approval=approval,
            break_glass=break_glass,
            merchants=MappingProxyType(merchants),
            unreachable=MappingProxyType(unreachable),
            response=response,
        )

    def pattern(self, value: Any) -> re.Pattern[str] | None:
        path = ("defaults", "ticket_pattern")
        text = self.text(value, path)
        if text is None:
            return None
        try:
            compiled = re.compile(text)
        except re.error as exc:
            self.bad(path, f"is not a valid regular expression: {exc}")
            return None
        if compiled.fullmatch(""):
            self.bad(path, "matches the empty string: every ticket id would be accepted")
            return None
        return compiled

    def purposes(self, value: Any) -> dict[str, Purpose]:
        found = dict(BUILTIN_PURPOSES)
        given = self.table(value, ("purposes",), tuple(value) if isinstance(value, dict) else ())
        for name, spec in given.items():
            path: tuple[str | int, ...] = ("purposes", name)
            if not _NAME.fullmatch(name):
                self.bad(path, "a purpose's name is lower case letters, digits and _")
                continue
            table = self.table(spec, path, ("show", "description"))
            if "show" not in table:
                if isinstance(spec, dict):
                    self.bad(path, 'needs "show", the categories it may see')
                continue
            show = self.names(table["show"], (*path, "show"), DATA_CATEGORIES, "data category")
            description = self.text(table.get("description", ""), (*path, "description"))
            if show is not None and description is not None:
                found[name] = Purpose(name, show, description)
        return found

    def access(
        self,
        spec: dict[str, Any],
        path: tuple[str | int, ...],
        purposes: Mapping[str, Purpose],
        base: Access | None,
    ) -> Access | None:
        table = self.table(spec, path, (*_ACCESS_KEYS, "roles") if base is None else _ACCESS_KEYS)
        if base is None:
            for key in ("actions", "channels", "categories"):
                if key not in table and isinstance(spec, dict):
                    self.bad((*path, key), "is required for a team")
        values: dict[str, Any] = {}
        for key, known, what in (
            ("actions", ACCESS_ACTIONS, "action"),
            ("channels", CHANNELS, "channel"),
            ("categories", DATA_CATEGORIES, "data category"),
            ("purposes", list(purposes), "purpose"),
        ):
            if key in table:
                values[key] = self.names(table[key], (*path, key), known, what)
        if "review_tickets" in table:
            values["review_tickets"] = self.boolean(
                table["review_tickets"], (*path, "review_tickets")
            )
        if any(v is None for v in values.values()):
            return None
        if base is None:
            if not all(k in values for k in ("actions", "channels", "categories")):
                return None
            return Access(
                actions=values["actions"],
                channels=values["channels"],
                categories=values["categories"],
                purposes=values.get("purposes"),
                review_tickets=values.get("review_tickets", False),
            )
        return Access(
            actions=values.get("actions", base.actions),
            channels=values.get("channels", base.channels),
            categories=values.get("categories", base.categories),
            purposes=values.get("purposes", base.purposes),
            review_tickets=values.get("review_tickets", base.review_tickets),
        )

    def teams(self, value: Any, purposes: Mapping[str, Purpose]) -> dict[str, Team]:
        if value is None:
            self.bad(("teams",), "no team is defined: every request would be denied")
            return {}
        given = self.table(value, ("teams",), tuple(value) if isinstance(value, dict) else ())
        if isinstance(value, dict) and not value:
            self.bad(("teams",), "no team is defined: every request would be denied")
        found: dict[str, Team] = {}
        for name, spec in given.items():
            path: tuple[str | int, ...] = ("teams", name)
            access = self.access(spec, path, purposes, None)
            roles: dict[str, Access] = {}
            raw_roles = spec.get("roles", {}) if isinstance(spec, dict) else {}
            role_table = self.table(
                raw_roles, (*path, "roles"), tuple(raw_roles) if isinstance(raw_roles, dict) else ()
            )
            for role, role_spec in role_table.items():
                if access is None:
                    continue
                role_access = self.access(role_spec, (*path, "roles", role), purposes, access)
                if role_access is not None:
                    roles[role] = role_access
            if access is not None:
                found[name] = Team(name, access, MappingProxyType(roles))
        return found

    def approval(self, value: Any) -> Approval | None:
        path: tuple[str | int, ...] = ("approval",)
        table = self.table(
            value,
            path,
            ("actions", "bulk_records", "approvers", "request_hours", "link_hours"),
        )
        actions = self.names(
            table.get("actions", list(DEFAULT_APPROVAL_ACTIONS)),
            (*path, "actions"),
            ACCESS_ACTIONS,
            "action",
        )
        bulk = table.get("bulk_records", DEFAULT_BULK_RECORDS)
        if isinstance(bulk, bool) or not isinstance(bulk, int) or not 2 <= bulk <= 1_000_000:
            self.bad(
                (*path, "bulk_records"), f"must be a whole number from 2 to 1000000, not {bulk!r}"
            )
            bulk = None
        approvers = self.approvers(table.get("approvers", ["merchant"]), (*path, "approvers"))
        request_hours = self.number(
            table.get("request_hours", 24.0),
            (*path, "request_hours"),
            low=0,
            high=MAX_GRANT_HOURS,
            unit="hours",
        )
        link_hours = self.number(
            table.get("link_hours", 24.0), (*path, "link_hours"), low=0, high=7 * 24, unit="hours"
        )
        if (
            actions is None
            or bulk is None
            or approvers is None
            or request_hours is None
            or link_hours is None
        ):
            return None
        return Approval(
            actions, bulk, approvers, round(request_hours * HOUR), round(link_hours * HOUR)
        )

    def response(self, value: Any) -> Response | None:
        # Imported here, so the policy loads without detect.
        from sentinelle.detect.base import Severity
        from sentinelle.detect.engine import DETECTORS

        levels = [str(s) for s in Severity]
        path: tuple[str | int, ...] = ("response",)
        table = self.table(value, path, ("suspend_at", "exempt", "escalate"))
        level = table.get("suspend_at", "high")
        suspend_at: int | None = None
        valid = level == "never" or level in levels
        if not valid:
            shown = f'"{level}"' if isinstance(level, str) else _kind(level)
            self.bad(
                (*path, "suspend_at"),
                f"{shown} is not a severity ({', '.join(levels)}, or never)",
            )
        elif level != "never":
            suspend_at = int(Severity.parse(level))
        known = sorted(set(DETECTORS) | {"break_glass"})
        exempt = self.names(
            table.get("exempt", ["break_glass"]), (*path, "exempt"), known, "detector"
        )
        escalate = self.boolean(table.get("escalate", True), (*path, "escalate"))
        if exempt is None or not valid:
            return None
        return Response(suspend_at, exempt, escalate)

    def approvers(self, value: Any, path: tuple[str | int, ...]) -> tuple[Approver, ...] | None:
        names = self.names(value, path, APPROVERS, "approver", empty=False)
        if names is None:
            return None
        return tuple(a for a in APPROVERS if a in names)  # type: ignore[misc]

    def break_glass(self, value: Any) -> BreakGlass | None:
        path: tuple[str | int, ...] = ("break_glass",)
        table = self.table(value, path, ("enabled", "minutes", "actions", "min_reason"))
        enabled = self.boolean(table.get("enabled", True), (*path, "enabled"))
        minutes = self.number(
            table.get("minutes", 60.0),
            (*path, "minutes"),
            low=0,
            high=MAX_BREAK_GLASS_MINUTES,
            unit="minutes",
        )
        actions = self.names(
            table.get("actions", ["view", "search", "update"]),
            (*path, "actions"),
            ACCESS_ACTIONS,
            "action",
        )
        min_reason = table.get("min_reason", 10)
        if (
            isinstance(min_reason, bool)
            or not isinstance(min_reason, int)
            or not 1 <= min_reason <= 200
        ):
            self.bad(
                (*path, "min_reason"), f"must be a whole number from 1 to 200, not {min_reason!r}"
            )
            return None
        if minutes is None or actions is None:
            return None
        return BreakGlass(enabled, round(minutes * MINUTE), actions, min_reason)

    def merchants(self, value: Any, cap: float) -> dict[str, MerchantRule]:
        given = self.table(value, ("merchants",), tuple(value) if isinstance(value, dict) else ())
        found: dict[str, MerchantRule] = {}
        for merchant, spec in given.items():
            path: tuple[str | int, ...] = ("merchants", merchant)
            table = self.table(spec, path, ("approve_views", "mask", "approvers", "grant_hours"))
            approve = self.boolean(table.get("approve_views", False), (*path, "approve_views"))
            mask = self.names(
                table.get("mask", []), (*path, "mask"), DATA_CATEGORIES, "data category"
            )
            approvers = (
                self.approvers(table["approvers"], (*path, "approvers"))
                if "approvers" in table
                else None
            )
            hours = (
                self.number(
                    table["grant_hours"], (*path, "grant_hours"), low=0, high=cap, unit="hours"
                )
                if "grant_hours" in table
                else None
            )
            if mask is None or ("approvers" in table and approvers is None):
                continue
            if "grant_hours" in table and hours is None:
                continue
            found[merchant] = MerchantRule(
                approve_views=approve,
                mask=mask,
                approvers=approvers,
                grant_us=None if hours is None else round(hours * HOUR),
            )
        return found

    def unreachable(self, value: Any, approval: Approval | None) -> dict[str, FailMode]:
        path: tuple[str | int, ...] = ("unreachable",)
        table = self.table(value, path, UNREACHABLE_KEYS)
        needs = approval.actions if approval is not None else frozenset()
        defaults = default_fail_modes(needs)
        fixed = never_open(needs)
        found: dict[str, FailMode] = {}
        for key in UNREACHABLE_KEYS:
            mode = table.get(key, defaults[key])
            if mode not in FAIL_MODES:
                shown = f'"{mode}"' if isinstance(mode, str) else _kind(mode)
                self.bad((*path, key), f'{shown} is not "open" or "closed"')
                continue
            if mode == "open" and key in fixed:
                what = (
                    "a bulk list"
                    if key == "bulk_list"
                    else f"an {key}"
                    if key[0] in "aeiou"
                    else f"a {key}"
                )
                self.bad(
                    (*path, key),
                    f'"open" would let {what}, which needs approval, through whenever Sentinelle '
                    'cannot be reached; it must be "closed"',
                )
                continue
            found[key] = mode
        return found


_DEFAULT_KEYS: Final = ("purpose", "ticket_pattern", "grant_hours", "max_grant_hours")
_NAME: Final = re.compile(r"[a-z][a-z0-9_]{0,63}")


def _dotted(path: tuple[str | int, ...]) -> str:
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            name = part if re.fullmatch(r"[A-Za-z0-9_-]+", part) else f'"{part}"'
            out += f".{name}" if out else name
    return out or "(top level)"


def _split_dotted(name: str) -> list[str]:
    """``a."b.c".d`` → ``["a", '"b.c"', "d"]`` (quotes kept, stripped by the caller)."""
    parts, current, quote = [], "", ""
    for ch in name:
        if quote:
            current += ch
            if ch == quote:
                quote = ""
        elif ch in "\"'":
            quote = ch
            current += ch
        elif ch == ".":
            parts.append(current)
            current = ""
        else:
            current += ch
    parts.append(current)
    return parts


def _kind(value: Any) -> str:
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return f"the number {value!r}"
    if isinstance(value, str):
        return f'the string "{value}"'
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "a table"
    return type(value).__name__


def _article(what: str) -> str:
    return f"an {what}" if what[0] in "aeiou" else f"a {what}"
