"""HR notice dates → ``staff.notice_given`` context events (docs/connectors.md, "HR notices").

An HR system's export, CSV (a header row) or JSON (an array of objects, ``{"notices":
[...]}``, or JSON lines), one notice per row:

=============== ======== ===================================================================
field           required meaning
=============== ======== ===================================================================
``staff``       yes      the staff id, as access events name the person (1-128 characters)
``notice_date`` yes      when notice was given: ``2026-11-04`` (the start of that day, UTC)
                         or an RFC 3339 time with its offset
``reason``      no       a category, e.g. ``resignation``, ``dismissal``: lower-case letters,
                         digits, ``_`` and ``-`` (at most 64), never free text
=============== ======== ===================================================================

Other columns (names, e-mails, salaries…) are never read. The file is one batch: a row that
is not right refuses them all, each problem naming the row (CSV line, JSON index) and the
field. Each event's id is a function of the staff id and the date, so loading the same file
again stores nothing new.
"""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import io
import re
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any, Final

from msgspec import UNSET

from sentinelle.connectors.receiver import records
from sentinelle.errors import ConfigError, Problem, ValidationError
from sentinelle.events import ContextEvent
from sentinelle.ingest import MAX_PROBLEMS
from sentinelle.timeutil import MAX_US, MIN_US, TIME_RANGE, to_us

__all__ = ["FIELDS", "notices", "read_notices"]

#: The fields a row may have that are read.
FIELDS: Final = ("staff", "notice_date", "reason")
#: How far ahead of now a notice may be dated (time zones, an export made the evening before).
_AHEAD: Final = dt.timedelta(days=1)
_MAX_ID: Final = 128
_REASON: Final = re.compile(r"[a-z0-9][a-z0-9_-]{0,63}\Z")
_DATE: Final = re.compile(r"\d{4}-\d{2}-\d{2}\Z")


def read_notices(path: Path, *, now: dt.datetime) -> list[ContextEvent]:
    """The ``staff.notice_given`` events of the file at ``path`` (``.csv``: CSV, else JSON).
    Raises :class:`ConfigError` (unreadable) or :class:`ValidationError` (up to
    :data:`~sentinelle.ingest.MAX_PROBLEMS` problems, each naming a row and a field)."""
    if path.suffix.lower() == ".csv":
        try:
            text = path.read_text(encoding="utf-8-sig")
        except OSError as exc:
            raise ConfigError(f"cannot read {path}: {exc.strerror}") from None
        except UnicodeDecodeError:
            raise ConfigError(f"{path}: not UTF-8 text") from None
        rows = csv.DictReader(io.StringIO(text, newline=""))
        missing = [f for f in FIELDS[:2] if f not in (rows.fieldnames or [])]
        if missing:
            raise ValidationError(
                [Problem(1, f, "missing from the header row") for f in missing], unit="line"
            )
        # Line numbers as a person sees them: the header is line 1.
        return notices(((rows.line_num, row) for row in rows), now=now, unit="line")
    return notices(enumerate(records(path, "notices")), now=now, unit="index")


def notices(
    rows: Iterable[tuple[int, Any]], *, now: dt.datetime, unit: str = "index"
) -> list[ContextEvent]:
    """Events from ``(location, row)`` pairs, all or none. Raises :class:`ValidationError`."""
    found: list[ContextEvent] = []
    problems: list[Problem] = []
    for location, row in rows:
        try:
            found.append(_event(row, now))
        except _RowError as exc:
            problems.append(Problem(location, exc.field, exc.message))
            if len(problems) > MAX_PROBLEMS:
                raise ValidationError(problems[:MAX_PROBLEMS], unit=unit, truncated=True) from None
    if problems:
        raise ValidationError(problems, unit=unit)
    return found


class _RowError(Exception):  # private: becomes a Problem
    def __init__(self, field: str, message: str) -> None:
        self.field = field
        self.message = message


def _event(row: Any, now: dt.datetime) -> ContextEvent:
    if not isinstance(row, Mapping):
        raise _RowError("$", "must be an object with staff and notice_date")
    staff = _text(row.get("staff"), "staff")
    if len(staff) > _MAX_ID:
        raise _RowError("staff", f"longer than {_MAX_ID} characters")
    when, day = _time(row.get("notice_date"), now)
    reason = row.get("reason")
    if reason in (None, ""):
        reason = None
    elif not isinstance(reason, str) or not _REASON.match(reason.strip()):
        raise _RowError(
            "reason", "must be a category (lower-case letters, digits, _ and -), not free text"
        )
    key = f"{staff}:{day}"
    eid = f"hr:{key}:notice_given"
    if len(eid) > _MAX_ID:
        eid = f"hr:{hashlib.sha256(key.encode()).hexdigest()[:64]}:notice_given"
    return ContextEvent(
        id=eid,
        time=when,
        type="staff.notice_given",
        actor=staff,
        by="hr",
        reason=UNSET if reason is None else reason.strip(),
    )


def _text(value: Any, field: str) -> str:
    if isinstance(value, int) and not isinstance(value, bool):
        value = str(value)  # an employee number exported as a number
    if not isinstance(value, str) or not value.strip():
        raise _RowError(field, "missing")
    return value.strip()


def _time(value: Any, now: dt.datetime) -> tuple[dt.datetime, str]:
    text = _text(value, "notice_date")
    try:
        if _DATE.match(text):
            when = dt.datetime.fromisoformat(text).replace(tzinfo=dt.UTC)
        else:
            when = dt.datetime.fromisoformat(text)
    except ValueError:
        raise _RowError(
            "notice_date", f"not a date (2026-11-04) or RFC 3339 time: {text!r}"
        ) from None
    if when.tzinfo is None:
        raise _RowError("notice_date", f"a time needs its UTC offset: {text!r}")
    if not MIN_US <= to_us(when) < MAX_US:  # before astimezone, which would overflow
        raise _RowError("notice_date", f"{text!r} is out of range: a time must be {TIME_RANGE}")
    when = when.astimezone(dt.UTC)
    if when > now + _AHEAD:
        raise _RowError("notice_date", f"{text} is in the future")
    return when, when.strftime("%Y%m%dT%H%M%SZ") if not _DATE.match(text) else text
