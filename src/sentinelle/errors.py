"""Sentinelle exceptions.

Every failure Sentinelle reports is an :class:`Error`; callers can catch only ours.

* Error
  x ConfigError          (bad settings, missing optional dependency)
  x ValidationError      (input refused: carries one :class:`Problem` per bad field)
  x IntegrityError       (ledger, tree or checkpoint verification failed)
  x NotFoundError        (an event, checkpoint or key that does not exist)
  |   x StoreNotFoundError (a command that only reads found no database to read)
  x StoreError           (the database failed or is in an unexpected state)
      x StoreBusyError     (another process held the write lock longer than the busy timeout)
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = [
    "ConfigError",
    "Error",
    "IntegrityError",
    "NotFoundError",
    "Problem",
    "StoreBusyError",
    "StoreError",
    "StoreNotFoundError",
    "ValidationError",
]


class Error(Exception):
    """Root of every Sentinelle error."""

    def diagnostics(self) -> str:
        """Text a person can act on; the CLI prints it."""
        return str(self)


class ConfigError(Error):
    """The configuration is wrong or an optional dependency is missing."""


@dataclass(frozen=True, slots=True)
class Problem:
    """One thing wrong with one input item.

    ``location`` is the 1-based line number of a JSON-lines input or the 0-based index
    of a JSON array element; ``path`` is the JSON path of the field (``$.actor.kind``).
    """

    location: int
    path: str
    message: str

    def to_dict(self) -> dict[str, object]:
        """JSON form, as the API returns it."""
        return {"location": self.location, "path": self.path, "message": self.message}


class ValidationError(Error):
    """Input was refused as a whole; nothing was written.

    ``unit`` says what ``Problem.location`` counts: ``"line"`` or ``"index"``.
    """

    def __init__(self, problems: list[Problem], *, unit: str = "line", truncated: bool = False):
        self.problems = problems
        self.unit = unit
        self.truncated = truncated
        super().__init__(self.diagnostics())

    def diagnostics(self) -> str:
        head = "batch refused, nothing was written"
        lines = [f"{self.unit} {p.location}: {p.path}: {p.message}" for p in self.problems]
        more = ["(more errors not shown: only the first 20 are reported)"] if self.truncated else []
        return "\n".join([head, *lines, *more])


class IntegrityError(Error):
    """A ledger, tree or checkpoint check failed: the stored data is not what was logged."""


class NotFoundError(Error):
    """The thing asked for does not exist."""


class StoreError(Error):
    """The database failed or holds something unexpected."""


class StoreNotFoundError(NotFoundError):
    """There is no database where the settings point, and the command only reads: it does
    not create one (commands that write, like ``ingest``, do)."""


class StoreBusyError(StoreError):
    """Another process held the database's write lock longer than the busy timeout.

    Nothing was written; trying again later is the fix. ``retry_after`` is a suggested wait
    in seconds (the API sends it as ``Retry-After``).
    """

    def __init__(self, message: str, *, retry_after: int = 5) -> None:
        super().__init__(message)
        self.retry_after = retry_after
