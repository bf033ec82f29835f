"""What live detection knows of the feeds it relies on, and what it infers where they are
silent (``sentinelle feeds``).

Detection reads the help desk's ticket events to tell an access justified by a ticket from
one that is not, and the HR feed's notice and joining dates. A feed that leaves something
out changes how it judges, on purpose and measured (docs/detection.md): tickets taken as
stated while no ticket event comes, a ticket's first citer taken as its assignee where none
is named, a ticket of one assignee taken as theirs where no opener is named. This module
says which of those is in effect, from the state live detection saved, at the time of the
newest event it read (its windows run on event time, not the wall clock).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import msgspec

from sentinelle.detect.context import TICKET_FEED_DAYS, UNMATCHED_ADVICE, unmatched_tickets
from sentinelle.detect.engine import Engine, EngineState
from sentinelle.errors import Error, NotFoundError
from sentinelle.timeutil import iso

if TYPE_CHECKING:
    from sentinelle.store import Store

__all__ = ["Feeds", "feeds_of", "saved_feeds"]


@dataclass(frozen=True, slots=True)
class Feeds:
    """The feeds as live detection saw them up to ``read_us`` (its newest event's time)."""

    events: int  # events read (the ledger's leaves up to live detection's cursor)
    read_us: int
    tickets_us: int  # the latest ticket event (0: none)
    silent: bool  # no ticket event in the last TICKET_FEED_DAYS: cited tickets as stated
    kept: int  # tickets kept (open, or closed recently)
    no_merchant: int  # …of which with no merchant yet (named by none, bound by no citation)
    closings_us: int  # the latest ticket.closed (≤ 0: none)
    closings: bool  # closings sent (or ticket events began too recently to tell)
    assignees_us: int
    assignees: bool  # assignees named in the last TICKET_FEED_DAYS
    openers_us: int
    openers: bool  # openers (``by``) named in the last TICKET_FEED_DAYS
    cited: int  # accesses citing a ticket while ticket events came, last TICKET_FEED_DAYS
    unmatched: int  # …of which citing one no ticket event named
    notices: int  # actors whose notice date the HR feed gave
    joined: int  # …and whose joining date

    def to_dict(self) -> dict[str, Any]:
        """The JSON form (times RFC 3339, ``None`` for never)."""

        def when(us: int) -> str | None:
            return iso(us) if us > 0 else None

        return {
            "events_read": self.events,
            "read_to": when(self.read_us),
            "tickets": {
                "latest": when(self.tickets_us),
                "silent": self.silent,
                "kept": self.kept,
                "without_merchant": self.no_merchant,
                "closings": {"latest": when(self.closings_us), "sent": self.closings},
                "assignees": {"latest": when(self.assignees_us), "named": self.assignees},
                "openers": {"latest": when(self.openers_us), "named": self.openers},
                "cited": {"accesses": self.cited, "unknown": self.unmatched},
            },
            "staff": {"notices": self.notices, "joined": self.joined},
        }

    def lines(self) -> list[str]:
        """The report in sentences, as ``sentinelle feeds`` prints them: :meth:`report`'s,
        each indented by its depth."""
        return ["  " * depth + text for depth, text in self.report()]

    def report(self) -> list[tuple[int, str]]:
        """The report in sentences, each with its depth (1: a detail of the line before):
        each feed, and what detection infers where it is silent."""
        days = f"{TICKET_FEED_DAYS} days"
        out = [(0, f"Live detection has read {self.events:,} events, up to {iso(self.read_us)}.")]
        if self.silent:
            latest = f"the latest at {iso(self.tickets_us)}" if self.tickets_us > 0 else "none yet"
            out.append(
                (
                    0,
                    f"Help desk: no ticket event in the last {days} ({latest}): tickets that "
                    "accesses cite are taken as stated, so tickets made up or lent go unseen. "
                    "Connect the help desk (docs/connectors.md).",
                )
            )
        else:
            named = (
                f"{self.no_merchant:,} of them with no merchant yet (the help desk named "
                "none): each becomes the case of the merchant its assignee first cites it for"
                if self.no_merchant
                else "each naming its merchant"
            )
            out.append(
                (
                    0,
                    f"Help desk: the latest ticket event at {iso(self.tickets_us)}; "
                    f"{self.kept:,} ticket(s) kept, {named}.",
                )
            )
            out.append(
                _said(
                    "closings",
                    self.closings,
                    self.closings_us,
                    days,
                    "a ticket an agent made themselves is judged once unused, not at its closing",
                )
            )
            out.append(
                _said(
                    "assignees",
                    self.assignees,
                    self.assignees_us,
                    days,
                    "the first actor citing a ticket for its merchant is taken as its assignee",
                )
            )
            out.append(
                _said(
                    "who opened them",
                    self.openers,
                    self.openers_us,
                    days,
                    "a ticket of one assignee is taken as theirs (fake tickets)",
                )
            )
            out.append(self._cited(days))
        out.append(
            (
                0,
                f"HR: notice dates of {self.notices:,} actor(s), joining dates of "
                f"{self.joined:,}"
                + (
                    "."
                    if self.notices or self.joined
                    else ": none, so exports after notice and a new hire's first weeks are "
                    "judged as anyone's (docs/connectors.md)."
                ),
            )
        )
        return out

    def _cited(self, days: str) -> tuple[int, str]:
        """The detail of the tickets accesses cite: how many no ticket event names."""
        if not self.cited:
            return 1, f"tickets cited: none in the last {days}."
        if unmatched_tickets(self.cited, self.unmatched):
            return 1, (
                f"tickets cited: {self.unmatched:,} of the {self.cited:,} accesses citing a "
                f"ticket in the last {days} cited one that no ticket event names, and each "
                f"counts as citing no ticket. {UNMATCHED_ADVICE}."
            )
        return 1, (
            f"tickets cited: by {self.cited:,} access(es) in the last {days}, "
            f"{self.unmatched:,} of them one that no ticket event names (made up, or cited "
            "before its event came)."
        )


def _said(what: str, named: bool, latest_us: int, days: str, else_: str) -> tuple[int, str]:
    """The detail of what the ticket events say: ``what`` (closings, or a field) named in the
    last ``days``, or not, and then what detection infers (``else_``)."""
    if named:
        if latest_us > 0:
            return 1, f"{what}: sent (the latest at {iso(latest_us)})."
        return 1, f"{what}: none yet, as ticket events began less than {days} ago."
    return 1, f"{what}: none sent in the last {days}: {else_}."


def feeds_of(events: int, state: EngineState) -> Feeds:
    """The :class:`Feeds` of a saved state, ``events`` read into it."""
    ctx = state.context
    t = ctx.now_us
    silent = ctx.feed_silent(t)
    # Each of these recomputes, once, what a state saved before it was kept leaves at 0.
    cited, unmatched = ctx.citations_since(t)
    closings, assignees, openers = (
        ctx.closings_known(t),
        ctx.assignees_known(t),
        ctx.openers_known(t),
    )
    return Feeds(
        events=events,
        read_us=t,
        tickets_us=ctx.tickets_seen_us,
        silent=silent,
        kept=len(ctx.tickets),
        no_merchant=sum(1 for v in ctx.tickets.values() if v.merchant is None),
        closings_us=ctx.closings_us,
        closings=closings,
        assignees_us=ctx.assignees_us,
        assignees=assignees,
        openers_us=ctx.openers_us,
        openers=openers,
        cited=cited,
        unmatched=unmatched,
        notices=len(ctx.notice),
        joined=len(ctx.joined),
    )


def saved_feeds(store: Store, where: str) -> Feeds:
    """The :class:`Feeds` of the state live detection last saved in ``store`` (named
    ``where`` in errors). Raises :class:`NotFoundError` before live detection has run, and
    :class:`Error` when the saved state cannot be read (the next ingest starts it afresh)."""
    saved = store.saved_detect_state()
    if saved is None:
        raise NotFoundError(
            f"live detection has not run on {where} yet: each ingest runs it (sentinelle "
            "ingest, POST /v1/events)"
        )
    cursor, blob = saved
    try:
        state = Engine.load_state(blob)
    except (msgspec.DecodeError, msgspec.ValidationError):
        raise Error(
            f"the live detection state saved in {where} cannot be read; the next ingest "
            "starts it afresh"
        ) from None
    return feeds_of(cursor, state)
