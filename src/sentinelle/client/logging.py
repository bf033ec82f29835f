"""A Python ``logging`` handler that records accesses, for apps that do not run OpenTelemetry.

A log record with ``sentinelle.*`` attributes in its ``extra`` becomes an access event, mapped
as the OTLP receiver maps a log record's attributes (:mod:`sentinelle.events.attributes`;
docs/connectors.md has the table), and is queued on the client kit's recorder
(:class:`~sentinelle.client.recorder.Recorder`: batched, retried, journaled when Sentinelle is
away). Only those attributes are read: the message, its arguments and any other ``extra``
never leave the app, so a customer's name in a log line stays out of Sentinelle. Records
without ``sentinelle.*`` attributes are not accesses and pass untouched::

    import logging
    from sentinelle.client.logging import SentinelleHandler

    access_log = logging.getLogger("shop.access")
    access_log.addHandler(SentinelleHandler(SENTINELLE_URL, INGEST_KEY, app="support-console"))
    access_log.info(
        "viewed customer",
        extra={
            "sentinelle.actor.id": "s-alice",
            "sentinelle.merchant": "m-1",
            "sentinelle.action": "view",
            "sentinelle.data": ["contact", "address"],
            "sentinelle.channel": "support_console",
            "sentinelle.customers": ["c-42"],
        },
    )

``emit`` never waits for the network: it maps the record and queues the event (when the queue
is full, it writes the queue to the journal first, a local file); the recorder's own thread
sends it. A record that makes no access event (an unknown ``sentinelle.*``
attribute, a missing merchant) is logged as a warning naming the attribute and counted in
:attr:`SentinelleHandler.rejected`; the app's log call never raises.
"""

from __future__ import annotations

import datetime as dt
import logging
import secrets
from collections.abc import Callable, Mapping
from functools import partial
from pathlib import Path
from typing import Final

from sentinelle.client.errors import ClientError
from sentinelle.client.guard import GuardClient
from sentinelle.errors import ConfigError
from sentinelle.events.attributes import (
    DERIVED_PREFIX,
    PREFIX,
    AttributeMappingError,
    access_event,
)

__all__ = ["SentinelleHandler"]

_logger = logging.getLogger(__name__)
_ID_BYTES: Final = 20


class SentinelleHandler(logging.Handler):
    """Log records with ``sentinelle.*`` extras → access events, sent in the background.

    Either ``base_url`` and ``api_key`` (a key with ``events:write``: role ``ingest``), and the
    handler makes and owns its :class:`GuardClient` (``batch_size``, ``flush_interval``,
    ``max_queue``, ``journal`` and ``timeout`` are the client's), closed with the handler; or
    ``client``, an app's own :class:`GuardClient`, which the app closes. ``app`` is the actor
    of records that name none (kind ``app``); ``defaults`` are ``sentinelle.*`` attributes for
    every record (``{"sentinelle.merchant": "m-1"}`` for one shop's app), which a record may
    override.

    Raises :class:`~sentinelle.errors.ConfigError` when neither or both ways are given, or a
    default is not a ``sentinelle.*`` attribute.
    """

    def __init__(
        self,
        base_url: str | None = None,
        api_key: str | None = None,
        *,
        client: GuardClient | None = None,
        app: str | None = None,
        defaults: Mapping[str, object] | None = None,
        level: int = logging.NOTSET,
        batch_size: int = 100,
        flush_interval: float = 5.0,
        max_queue: int = 10_000,
        journal: Path | str | None = None,
        timeout: float = 3.0,
    ) -> None:
        if (client is not None) == (base_url is not None or api_key is not None):
            raise ConfigError("SentinelleHandler: give either base_url and api_key, or a client")
        for name in defaults or {}:
            if not name.startswith(PREFIX):
                raise ConfigError(f"SentinelleHandler defaults: {name!r} is not a sentinelle.*")
        super().__init__(level)
        self._make: Callable[[], GuardClient] | None = None
        if client is None:
            self._make = partial(
                GuardClient,
                base_url or "",
                api_key or "",
                timeout=timeout,
                batch_size=batch_size,
                flush_interval=flush_interval,
                max_queue=max_queue,
                journal=journal,
            )
            client = self._make()
        self.client = client
        self.app = app
        self.defaults = dict(defaults or {})
        #: Records with ``sentinelle.*`` attributes that made no access event, or could not
        #: be queued, since the handler was made.
        self.rejected = 0
        self._closed = False

    def emit(self, record: logging.LogRecord) -> None:
        """Map the record and queue its event (records without ``sentinelle.*`` attributes
        are skipped). Never blocks on the network, never raises."""
        attributes = {k: v for k, v in vars(record).items() if k.startswith(PREFIX)}
        if not attributes:
            return
        try:
            if self._closed and self._make is not None:
                # Closed but still attached: logging.config.dictConfig() closes every handler
                # there is (uvicorn calls it at start). Like a FileHandler reopening its file,
                # the handler makes its client again rather than lose accesses.
                self.client = self._make()
                self._closed = False
            event = access_event(
                attributes,
                time=dt.datetime.fromtimestamp(record.created, dt.UTC),
                defaults=self.defaults,
                app=self.app,
                # Made once, here: the recorder sends the same id on every retry.
                event_id=DERIVED_PREFIX + secrets.token_hex(_ID_BYTES),
            )
            self.client.record(event)
        except AttributeMappingError as exc:
            self.rejected += 1
            # Identifiers only (the attributes hold no personal data): safe to log.
            _logger.warning("log record not recorded as an access: %s", exc.diagnostics())
        except ClientError as exc:  # the queue is full and no journal takes it
            self.rejected += 1
            _logger.error("log record not recorded as an access: %s", exc.diagnostics())
        except Exception:
            self.handleError(record)

    def flush(self) -> None:
        """Send what is queued now (logged, not raised, when Sentinelle cannot be reached:
        the events stay queued). Nothing once the handler's own client is closed."""
        if self._closed and self._make is not None:
            return
        try:
            self.client.flush()
        except ClientError as exc:
            _logger.warning("flushing accesses to Sentinelle: %s", exc.diagnostics())
        except Exception:
            # logging.shutdown() (at exit, and in every dictConfig()) lets only OSError and
            # ValueError through: anything else would break the app's logging setup.
            _logger.exception("flushing accesses to Sentinelle failed")

    def close(self) -> None:
        """Close the client the handler made (it sends what is left, or journals it).
        Idempotent: ``logging`` may close a handler more than once. A record handled after
        this makes the client again."""
        if self._closed:
            return
        self._closed = True
        try:
            if self._make is not None:
                self.client.close()
        except ClientError as exc:
            _logger.error("closing the access log handler: %s", exc.diagnostics())
        finally:
            super().close()
