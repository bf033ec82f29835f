"""The client kit's errors, under Sentinelle's root :class:`~sentinelle.errors.Error`.

* Error
  x ClientError          (anything the client kit reports)
      x GuardRequestError  (the request is wrong: refused before sending, or a 4xx answer)
      x RecordError        (events could not be queued or sent, and were not dropped)

Sentinelle being unreachable is *not* an error: :meth:`GuardClient.decide` answers with the
action's fail mode instead (``Decision.unreachable``).
"""

from __future__ import annotations

from sentinelle.errors import Error

__all__ = ["ClientError", "GuardRequestError", "RecordError"]


class ClientError(Error):
    """Root of the client kit's errors."""


class GuardRequestError(ClientError):
    """Sentinelle refused the request (a 4xx answer: never retried), or the client refused it
    before sending. ``status`` is the HTTP status (``None``: refused by the client), ``detail``
    the server's own words, which name the field at fault; ``errors`` the problems a refused
    batch of events lists (each with the event's ``index``)."""

    def __init__(
        self,
        detail: str,
        *,
        status: int | None = None,
        errors: list[dict[str, object]] | None = None,
    ) -> None:
        super().__init__(detail)
        self.detail = detail
        self.status = status
        self.errors = errors or []

    def diagnostics(self) -> str:
        """The status and the server's detail."""
        if self.status is None:
            return f"request refused by the client: {self.detail}"
        return f"Sentinelle answered {self.status}: {self.detail}"


class RecordError(ClientError):
    """Events could not be queued (the queue is full and no journal is configured), or could
    not be sent when asked to (:meth:`flush`, :meth:`close`). Nothing is dropped silently:
    the message says where the events are (still queued, in the journal, or not kept)."""
