"""The client's view of a decision: the answer of ``POST /v1/access/decide``, typed, or the one
the client made itself while Sentinelle could not be reached (``unreachable``)."""

from __future__ import annotations

import datetime as dt
from typing import Final, Literal

import msgspec
from msgspec import Struct

__all__ = ["Decision", "decode_decision"]


class Decision(Struct, kw_only=True, frozen=True):
    """May the actor be served, and what must stay hidden.

    ``decision`` is ``allow``, ``deny`` or ``pending`` (an approval is needed; nothing is
    served meanwhile). ``mask`` lists the data categories to hide, ``expires`` when the
    permission ends (``None``: with the ticket, or not allowed), ``reasons`` every reason in
    plain sentences, ``grant`` the grant that allowed it, ``event`` the id of the access event
    that records the decision, ``break_glass`` whether the caller must raise the break-glass
    alert, ``approvers`` whose approvals a pending request waits for.

    ``unreachable`` is set when Sentinelle could not be reached and the client applied the
    action's fail mode: ``allow`` (fail open; ``event`` is queued, sent when Sentinelle is
    back) or ``deny`` (fail closed; the refusal is queued too).
    """

    decision: Literal["allow", "deny", "pending"]
    mask: tuple[str, ...] = ()
    expires: dt.datetime | None = None
    reasons: tuple[str, ...] = ()
    grant: str | None = None
    event: str | None = None
    break_glass: bool = False
    approvers: tuple[str, ...] = ()
    unreachable: bool = False

    @property
    def allowed(self) -> bool:
        """Whether the request may be served (with ``mask`` applied)."""
        return self.decision == "allow"


_decoder: Final = msgspec.json.Decoder(Decision)


def decode_decision(raw: bytes) -> Decision:
    """The decision of an answer of ``POST /v1/access/decide``.

    Raises :class:`msgspec.DecodeError` (or its ``ValidationError``) on another body.
    """
    return _decoder.decode(raw)
