"""A merchant's accesses as the merchant sees them: who (per policy), what, why, outcome; the
CSV export; and the check a merchant runs on a listing without trusting Sentinelle.

**Who, per policy.** Staff are people: a merchant viewer sees them by id only when the
platform says so (``Settings.merchant_staff_identity = "named"``); by default
(``"pseudonymous"``) it sees the team, role and country of the access, as Google's Access
Transparency shows a job family and office location, and a pseudonym (:class:`Pseudonyms`):
``staff-`` and 8 hex digits of HMAC-SHA256 over (merchant, actor, UTC day of the access) under
a key kept in the data directory. The same person is the same pseudonym for one merchant
within one UTC day — enough to see that one person read 300 customers this morning — and
another pseudonym the next day and at every other merchant, so a merchant cannot follow a
person across days, nor two merchants pool their lists to follow one across shops. The
pseudonym depends only on the row, never on the page, the filters or the request, so pages,
reloads and the CSV agree. It cannot hide what team, role and country reveal by themselves (a
team of one is that person). Apps, integrations, services and the merchant's own users are
not pseudonymised: they are shown by name. The platform's own roles (responders, DPOs,
auditors, admins, reader keys) always see names.

**Proofs and pseudonyms.** A ledger leaf is the whole stored event, which names the staff
member (``actor.id``) and where they worked from (``source``). A pseudonymous row therefore
carries its leaf hash instead of the event text: the proof still shows that the entry is leaf
``i`` of the signed log (nothing removed or rewritten there), but not that the columns shown
match it, since checking that needs the text. Even the hash is a commitment to a text a
merchant knows most of: someone who can guess the actor's id (and source, if any) can confirm
a guess against it. Pseudonymity here is protection from casual and bulk disclosure, not from
a determined guesser; hiding the actor from the leaf hash would need a salted commitment to
the actor inside the leaf, a change of the ledger's format.

**CSV.** One header row, then one row per access; every text cell that a spreadsheet would
read as a formula (starting with ``=``, ``+``, ``-``, ``@``, tab or carriage return) is
prefixed with ``'`` (OWASP's advice), and :func:`uncell` takes it off. Each row carries its
leaf index, leaf hash, proof, tree size, the signed checkpoint and, when shown, the event's
canonical text, so each row can be checked alone.

**Checking a listing** (:func:`check_listing`, ``sentinelle ledger verify-accesses``): the
checkpoint's Ed25519 signature against the verifier key the merchant pinned, then each row's
leaf hash (SHA-256 of 0x00 and the canonical event) and inclusion proof (RFC 9162) to the
checkpoint's root, with :mod:`sentinelle.ledger.merkle` and
:class:`~sentinelle.ledger.checkpoint.Verifier`.
"""

from __future__ import annotations

import csv
import hashlib
import hmac
import io
import json
import secrets
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final, Literal

import msgspec

from sentinelle.errors import ConfigError, Error, IntegrityError
from sentinelle.events import AccessEvent
from sentinelle.keyfile import load_or_create
from sentinelle.ledger.checkpoint import Verifier
from sentinelle.ledger.merkle import HASH_SIZE, leaf_hash, verify_inclusion
from sentinelle.store.grants import GrantApproval, GrantRow
from sentinelle.timeutil import iso

__all__ = [
    "CSV_COLUMNS",
    "PSEUDONYM_KEY_FILE",
    "Approver",
    "ListingCheck",
    "Pseudonyms",
    "RowCheck",
    "Shown",
    "StaffIdentity",
    "canonical_json",
    "cell",
    "check_listing",
    "csv_header",
    "csv_line",
    "decode_access",
    "shown",
    "uncell",
]

StaffIdentity = Literal["named", "pseudonymous"]
PSEUDONYM_KEY_FILE: Final = "pseudonyms.key"
_KEY_BYTES: Final = 32
_FORMULA: Final = ("=", "+", "-", "@", "\t", "\r")


class Pseudonyms:
    """Day-scoped, per-merchant pseudonyms of staff members (see the module's docstring)."""

    __slots__ = ("_key",)

    def __init__(self, key: bytes) -> None:
        if len(key) != _KEY_BYTES:
            raise ConfigError(f"the pseudonym key must be {_KEY_BYTES} bytes")
        self._key = key

    @classmethod
    def load_or_create(cls, data_dir: Path) -> Pseudonyms:
        """The key in ``data_dir/pseudonyms.key``, made on first use (mode 0600). Every host
        serving the same database needs the same file, or they show other pseudonyms.
        Raises :class:`~sentinelle.errors.ConfigError` if the file is unsafe or malformed."""
        path = data_dir / PSEUDONYM_KEY_FILE

        def parse(data: bytes) -> Pseudonyms:
            try:
                return cls(bytes.fromhex(data.decode("ascii").strip()))
            except (UnicodeDecodeError, ValueError):
                raise ConfigError(f"{path} is not {_KEY_BYTES * 2} hex digits") from None

        return load_or_create(
            path,
            what="pseudonym key file",
            make=lambda: (secrets.token_hex(_KEY_BYTES) + "\n").encode("ascii"),
            parse=parse,
        )

    def of(self, merchant: str, actor: str, day: str) -> str:
        """``staff-`` and 8 hex digits for ``actor`` at ``merchant`` on ``day`` (YYYY-MM-DD)."""
        message = "\0".join(("sentinelle-pseudonym-v1", merchant, actor, day)).encode()
        return "staff-" + hmac.new(self._key, message, hashlib.sha256).hexdigest()[:8]

    def of_grantee(self, grant: GrantRow) -> str:
        """The pseudonym of ``grant``'s staff member at its merchant: that of the UTC day the
        grant was asked, the one that day's accesses show (its page, its answers in the API
        and its approval e-mail all name the grantee so)."""
        return self.of(grant.merchant, grant.actor, iso(grant.requested_us)[:10])


class Approver(msgspec.Struct, frozen=True, kw_only=True):
    """Who approved the grant an access cites: ``as_`` merchant or staff, ``by`` whom (a
    staff approver pseudonymous, ``None``, when staff are)."""

    as_: str = msgspec.field(name="as")
    by: str | None


class Shown(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=False):
    """One access as a viewer sees it: the page's columns, the API's ``shown`` object and the
    CSV's cells. ``actor`` is the id, or the pseudonym when ``named`` is false; ``customers``
    is ``resource.count``, else the number of customers named, else ``None``."""

    id: str
    time: str
    actor: str
    actor_kind: str
    named: bool
    team: str | None
    role: str | None
    country: str | None
    action: str
    resource: str | None
    customers: int | None
    categories: list[str]
    channel: str
    ticket: str | None
    grant: str | None
    reason: str | None
    approvers: list[Approver]
    outcome: str
    justified: bool

    @property
    def unjustified(self) -> bool:
        """A staff access citing no ticket or grant: what the page flags. Tickets and grants
        are asked of staff only (the guard and the detectors judge them so); apps,
        integrations, services and the shop's own users read under its installation or
        account."""
        return self.actor_kind == "staff" and not self.justified


def _opt(value: Any) -> Any:
    return None if value is msgspec.UNSET else value


#: A stored access event's body (canonical JSON, validated when it was ingested) decoded for
#: display: the merchant's accesses list and a grant's uses.
decode_access: Final = msgspec.json.Decoder(AccessEvent).decode


def shown(
    event: AccessEvent,
    *,
    merchant: str,
    name_staff: bool,
    pseudonyms: Pseudonyms,
    approvals: Callable[[str], Sequence[GrantApproval] | None],
) -> Shown:
    """What a viewer sees of ``event``: staff by id when ``name_staff``, else by pseudonym;
    ``approvals(grant id)`` gives the approvals of a grant of ``merchant`` (``None``: unknown,
    or another merchant's grant, whose approvers this merchant must not see)."""
    actor = event.actor
    named = name_staff or actor.kind != "staff"
    time_text = msgspec.json.encode(event.time).decode()[1:-1]  # as in the stored event
    who = actor.id if named else pseudonyms.of(merchant, actor.id, time_text[:10])
    justification = _opt(event.justification)
    ticket = _opt(justification.ticket) if justification else None
    grant = _opt(justification.grant) if justification else None
    approvers: list[Approver] = []
    if grant:
        for given in approvals(grant) or ():
            hidden = given.as_ != "merchant" and not name_staff
            approvers.append(Approver(as_=given.as_, by=None if hidden else given.by))
    resource = _opt(event.resource)
    count = _opt(resource.count) if resource else None
    subjects = _opt(event.subjects)
    source = _opt(event.source)
    return Shown(
        id=event.id,
        time=time_text,
        actor=who,
        actor_kind=actor.kind,
        named=named,
        team=_opt(actor.team),
        role=_opt(actor.role),
        country=_opt(source.country) if source else None,
        action=event.action,
        resource=_opt(resource.type) if resource else None,
        customers=count if count is not None else (len(subjects) if subjects else None),
        categories=list(event.data),
        channel=event.channel,
        ticket=ticket,
        grant=grant,
        reason=_opt(justification.reason) if justification else None,
        approvers=approvers,
        outcome=event.outcome,
        justified=bool(ticket or grant),
    )


# -- CSV ---------------------------------------------------------------------------------------

CSV_COLUMNS: Final = (
    "time",
    "event_id",
    "actor",
    "actor_kind",
    "named",
    "team",
    "role",
    "country",
    "action",
    "resource",
    "customers",
    "categories",
    "channel",
    "ticket",
    "grant",
    "approvers",
    "reason",
    "outcome",
    "justified",
    "leaf_index",
    "leaf_hash",
    "proof",
    "tree_size",
    "checkpoint",
    "event",
)


def cell(value: object) -> str:
    """``value`` as a CSV cell a spreadsheet shows as text: ``None`` empty, booleans
    ``yes``/``no``, and a text starting like a formula prefixed with ``'``."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    text = str(value)
    return "'" + text if text.startswith(_FORMULA) else text


def uncell(text: str) -> str:
    """A cell's text as it was before :func:`cell` protected it."""
    return text[1:] if text.startswith("'") and text[1:].startswith(_FORMULA) else text


def _line(cells: Iterable[str]) -> str:
    out = io.StringIO()
    csv.writer(out, lineterminator="\r\n").writerow(cells)  # RFC 4180 line ends
    return out.getvalue()


def csv_header() -> str:
    """The CSV's header row."""
    return _line(CSV_COLUMNS)


def csv_line(
    view: Shown,
    *,
    leaf_index: int,
    leaf: bytes,
    proof: Sequence[bytes],
    size: int,
    note: str,
    text: str | None,
) -> str:
    """One access as a CSV row (see :data:`CSV_COLUMNS`); ``text`` the stored canonical event,
    ``None`` when withheld."""
    approvers = " ".join(f"{a.as_}:{a.by or 'staff'}" for a in view.approvers)
    values: list[object] = [
        view.time,
        view.id,
        view.actor,
        view.actor_kind,
        view.named,
        view.team,
        view.role,
        view.country,
        view.action,
        view.resource,
        view.customers,
        " ".join(view.categories),
        view.channel,
        view.ticket,
        view.grant,
        approvers or None,
        view.reason,
        view.outcome,
        view.justified,
        leaf_index,
        leaf.hex(),
        " ".join(h.hex() for h in proof),
        size,
        note,
        text,
    ]
    return _line(cell(v) for v in values)


# -- checking a listing ------------------------------------------------------------------------


def canonical_json(value: object) -> bytes:
    """RFC 8785 canonical JSON of a decoded event (objects, arrays, strings, integers,
    booleans, null): keys sorted by UTF-16 code units, no spaces, strings escaped as
    ECMAScript's JSON.stringify escapes them (which ``json.dumps`` with ``ensure_ascii=False``
    matches). Raises :class:`~sentinelle.errors.IntegrityError` for a number that is not an
    integer (events hold none)."""

    def walk(node: object) -> str:
        if isinstance(node, dict):
            keys = sorted(node, key=lambda k: k.encode("utf-16-be"))
            return "{" + ",".join(f"{walk(k)}:{walk(node[k])}" for k in keys) + "}"
        if isinstance(node, list):
            return "[" + ",".join(walk(v) for v in node) + "]"
        if isinstance(node, float):
            raise IntegrityError("an event holds a non-integer number; events hold none")
        return json.dumps(node, ensure_ascii=False)

    return walk(value).encode("utf-8")


@dataclass(frozen=True, slots=True)
class RowCheck:
    """One row's check: ``problem`` is ``None`` when its proof leads to the checkpoint's root;
    ``text_checked``: its leaf hash was computed from the event's text (not given)."""

    leaf_index: int
    event_id: str
    text_checked: bool
    problem: str | None


@dataclass(frozen=True, slots=True)
class ListingCheck:
    """A listing's check: the checkpoint (``None`` when its signature and format hold, else
    why not) and each row's."""

    size: int
    checkpoint_problem: str | None
    rows: list[RowCheck]

    @property
    def ok(self) -> bool:
        """Whether the checkpoint and every row verified."""
        return self.checkpoint_problem is None and all(r.problem is None for r in self.rows)


@dataclass(frozen=True, slots=True)
class _Row:
    leaf_index: int
    event_id: str
    text: bytes | None
    leaf: bytes | None
    proof: list[bytes]
    size: int
    note: str | None


def _hashes(values: Iterable[str], what: str) -> list[bytes]:
    out = []
    for value in values:
        try:
            raw = bytes.fromhex(value)
        except ValueError:
            raise IntegrityError(f"{what} {value!r} is not hex") from None
        if len(raw) != HASH_SIZE:
            raise IntegrityError(f"{what} {value!r} is not {HASH_SIZE} bytes")
        out.append(raw)
    return out


def _rows_of_json(doc: Mapping[str, Any]) -> Iterator[_Row]:
    note, size = doc.get("checkpoint"), doc.get("size")
    for item in doc.get("items") or ():
        event = item.get("event")
        given = item.get("leaf_hash")
        shown_id = (item.get("shown") or {}).get("id")
        yield _Row(
            leaf_index=int(item["leaf_index"]),
            event_id=str(event.get("id") if isinstance(event, dict) else shown_id),
            text=canonical_json(event) if event is not None else None,
            leaf=_hashes([given], "leaf hash")[0] if given and event is None else None,
            proof=_hashes(item.get("proof") or (), "proof hash"),
            size=int(size) if isinstance(size, int) else -1,
            note=note if isinstance(note, str) else None,
        )


def _rows_of_csv(text: str) -> Iterator[_Row]:
    reader = csv.DictReader(io.StringIO(text, newline=""))
    missing = {"leaf_index", "leaf_hash", "proof", "tree_size", "checkpoint", "event"} - set(
        reader.fieldnames or ()
    )
    if missing:
        raise IntegrityError(f"the CSV has no column {', '.join(sorted(missing))}")
    for line in reader:
        event = uncell(line["event"])
        try:
            index, size = int(line["leaf_index"]), int(line["tree_size"])
        except ValueError:
            raise IntegrityError(f"line {reader.line_num}: leaf_index or tree_size") from None
        yield _Row(
            leaf_index=index,
            event_id=uncell(line.get("event_id", "")),
            text=event.encode("utf-8") if event else None,
            leaf=None if event else _hashes([line["leaf_hash"]], "leaf hash")[0],
            proof=_hashes(line["proof"].split(), "proof hash"),
            size=size,
            note=uncell(line["checkpoint"]) or None,
        )


def check_listing(data: str, verifier_key: str, *, origin: str | None = None) -> ListingCheck:
    """Check a listing of a merchant's accesses, the API's JSON page or its CSV export, against
    ``verifier_key`` (the C2SP signed-note key the merchant pinned; ``origin``: the log it
    expects). Every row must be proven against one checkpoint, whose signature is checked.

    Raises :class:`~sentinelle.errors.Error` when the data is neither, or a row or the key is
    malformed; a row that does not verify is reported in its :class:`RowCheck`.
    """
    verifier = Verifier.from_verifier_key(verifier_key)
    stripped = data.lstrip()
    if stripped.startswith("{"):
        try:
            doc = json.loads(stripped)
        except ValueError as exc:
            raise Error(f"the listing is not JSON: {exc}") from None
        rows = list(_rows_of_json(doc))
        notes = {doc.get("checkpoint")}
        sizes = {doc.get("size")}
    elif stripped.startswith("["):  # not a CSV without its header: JSON, not the page's
        raise Error("the listing is a JSON array: the API's page is a JSON object ({…})")
    else:
        rows = list(_rows_of_csv(data))
        notes = {r.note for r in rows}
        sizes = {r.size for r in rows}
    if len(notes) > 1 or len(sizes) > 1:
        raise IntegrityError("the rows are proven against more than one checkpoint")
    note = next(iter(notes), None)
    size = next(iter(sizes), 0)
    if not isinstance(size, int):
        raise IntegrityError("the listing has no tree size")
    if note is None:
        problem = None if not rows else "the listing has rows but no checkpoint"
        return ListingCheck(size, problem, [_failed(r, "no checkpoint") for r in rows])
    try:
        checkpoint = verifier.verify(note, origin=origin)
        if checkpoint.size != size:
            raise IntegrityError(f"the checkpoint is of size {checkpoint.size}, not {size}")
    except IntegrityError as exc:
        return ListingCheck(size, str(exc), [_failed(r, "the checkpoint failed") for r in rows])
    checks = []
    for row in rows:
        leaf = leaf_hash(row.text) if row.text is not None else row.leaf
        assert leaf is not None  # noqa: S101  (a row has a text or a leaf hash)
        try:
            verify_inclusion(leaf, row.leaf_index, checkpoint.size, row.proof, checkpoint.root)
            problem = None
        except IntegrityError as exc:
            problem = str(exc)
        checks.append(RowCheck(row.leaf_index, row.event_id, row.text is not None, problem))
    return ListingCheck(size, None, checks)


def _failed(row: _Row, why: str) -> RowCheck:
    return RowCheck(row.leaf_index, row.event_id, row.text is not None, why)
