"""The assessment as recorded: the typed form of what :func:`sentinelle.assess.assess` prints.

An incident stores its assessment as JSON; :class:`Assessment` is how every package reads it
back (the report to the authority, the notices, the register, the 72-hour clock), so a field
renamed here is a type error there, not a value silently read as "not known yet". Decoding
is strict: an unknown or missing field is refused with its JSON path
(:class:`~sentinelle.errors.ValidationError`).
"""

from __future__ import annotations

import datetime as dt
from typing import Any, Literal

import msgspec
from msgspec import Struct

from sentinelle.errors import Problem, ValidationError

__all__ = [
    "Assessment",
    "AssumptionRecord",
    "AuthorityDutyRecord",
    "SeverityRecord",
    "SubjectsDutyRecord",
]

SeverityLabel = Literal["low", "medium", "high", "very_high"]


# Every record: exactly the printed JSON, no field unknown, none missing, never changed.


class SeverityRecord(Struct, kw_only=True, forbid_unknown_fields=True, frozen=True):
    """ENISA severity: ``score = dpc × ei + cb`` and its band, each part explained."""

    dpc: int
    ei: float
    cb: float
    score: float
    level: SeverityLabel
    explanation: tuple[str, ...]


class AuthorityDutyRecord(Struct, kw_only=True, forbid_unknown_fields=True, frozen=True):
    """The duty to notify the supervisory authority (GDPR Art. 33)."""

    required: bool
    deadline: dt.datetime | None
    late: bool
    reasons: tuple[str, ...]
    articles: tuple[str, ...]


class SubjectsDutyRecord(Struct, kw_only=True, forbid_unknown_fields=True, frozen=True):
    """The duty to tell the people concerned (GDPR Art. 34), and the exemption applied."""

    required: bool
    exemption: Literal["encrypted", "mitigated", "disproportionate_effort"] | None
    public_communication: bool
    reasons: tuple[str, ...]
    articles: tuple[str, ...]


class AssumptionRecord(Struct, kw_only=True, forbid_unknown_fields=True, frozen=True):
    """A missing fact, the value assumed in its place and the answers that would change
    the decision."""

    field: str
    assumed: Any
    statement: str
    would_change: tuple[str, ...]


class Assessment(Struct, kw_only=True, forbid_unknown_fields=True, frozen=True):
    """One assessment of a breach under one jurisdiction."""

    jurisdiction: str
    severity: SeverityRecord
    notify_authority: AuthorityDutyRecord
    notify_subjects: SubjectsDutyRecord
    document: bool
    assumptions: tuple[AssumptionRecord, ...]

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Assessment:
        """Decode the JSON form. Raises :class:`ValidationError` naming the path at fault."""
        try:
            return msgspec.convert(data, cls)
        except msgspec.ValidationError as exc:
            raise _refused(str(exc)) from None

    @classmethod
    def from_json(cls, text: str | bytes) -> Assessment:
        """Decode the stored JSON text. Raises :class:`ValidationError`."""
        try:
            return msgspec.json.decode(text, type=cls)
        except (msgspec.ValidationError, msgspec.DecodeError) as exc:
            raise _refused(str(exc)) from None

    def to_dict(self) -> dict[str, Any]:
        """The JSON form (times in RFC 3339 UTC), as :func:`~sentinelle.assess.assess` prints."""
        out: dict[str, Any] = msgspec.to_builtins(self)
        return out

    def duty_required(self, audience: Literal["authority", "subjects"]) -> bool:
        """Whether the assessment requires notifying the authority or the data subjects."""
        duty = self.notify_authority if audience == "authority" else self.notify_subjects
        return duty.required


def _refused(message: str) -> ValidationError:
    text, sep, path = message.rpartition(" - at `")
    where = path.rstrip("`") if sep else "$"
    return ValidationError(
        [Problem(location=0, path=where, message=text if sep else message)], unit="assessment"
    )
