"""The receiver: a webhook's request (vendor, headers, raw body) → checked → ticket events;
and a vendor's export file → the same events (backfill). The API route and the CLI are thin
wrappers over it; both ingest what it returns with :class:`sentinelle.ingest.Ingestor`.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from types import ModuleType
from typing import Any, Final

import msgspec

from sentinelle.config import Settings
from sentinelle.connectors import freshdesk, gorgias, jira, zendesk
from sentinelle.connectors.base import (
    VENDOR_NAMES,
    History,
    MappingConfig,
    MappingError,
    no_history,
)
from sentinelle.errors import ConfigError
from sentinelle.events import ContextEvent

__all__ = ["BACKFILLS", "VENDORS", "NotConfiguredError", "Receiver", "encode", "records"]

#: Every vendor's module: ``verify`` and ``map`` (:mod:`sentinelle.connectors.base`).
VENDORS: Final[dict[str, ModuleType]] = {
    "zendesk": zendesk,
    "freshdesk": freshdesk,
    "jira": jira,
    "gorgias": gorgias,
}
assert tuple(VENDORS) == VENDOR_NAMES  # noqa: S101 - one list, checked at import
#: Vendors whose export files ``backfill`` reads, with the key of each page's list.
BACKFILLS: Final[dict[str, str]] = {
    "zendesk": "tickets",
    "jira": "issues",
    "gorgias": "data",
    "freshdesk": "tickets",
}
assert set(BACKFILLS) == set(VENDOR_NAMES)  # noqa: S101 - every vendor's history, checked at import


class NotConfiguredError(ConfigError):
    """The vendor's secret is not set: its receiver takes nothing (503)."""

    def __init__(self, vendor: str) -> None:
        self.variable = f"SENTINELLE_{vendor.upper()}_WEBHOOK_SECRET"  # Settings' env name
        super().__init__(f"the {vendor} connector is not configured: set {self.variable}")


@dataclass(frozen=True, slots=True)
class Receiver:
    """The settings (the vendors' secrets) and the mapping file, read once."""

    settings: Settings
    mapping: MappingConfig

    @classmethod
    def from_settings(cls, settings: Settings) -> Receiver:
        """Reads ``settings.connectors_map``. Raises :class:`ConfigError`."""
        return cls(settings, MappingConfig.from_file(settings.connectors_map))

    def receive(
        self,
        vendor: str,
        headers: Mapping[str, str],
        body: bytes,
        *,
        now: dt.datetime,
        history: History = no_history,
    ) -> list[ContextEvent]:
        """Check a webhook request and map its body. ``headers`` in lower case; ``history``
        gives a ticket's stored events (:func:`~sentinelle.connectors.base.ticket_history`),
        which the vendors that send a ticket's state compare it with. Raises
        :class:`NotConfiguredError`, :class:`~sentinelle.connectors.base.SignatureError`
        (checked before the body is parsed, and before any read) or :class:`MappingError`."""
        module = VENDORS[vendor]
        secret = self.settings.webhook_secret(vendor)
        if secret is None:
            raise NotConfiguredError(vendor)
        module.verify(headers, body, secret, now)
        try:
            payload = msgspec.json.decode(body)
        except (msgspec.DecodeError, RecursionError):
            raise MappingError("$", "the body is not valid JSON") from None
        found: list[ContextEvent] = module.map(payload, self.mapping.of(vendor), now, history)
        return found

    def backfill(
        self,
        vendor: str,
        path: Path,
        *,
        merchant: str | None = None,
        history: History = no_history,
    ) -> Iterator[ContextEvent]:
        """Events from ``vendor``'s export file; ``merchant`` (if given) for every ticket;
        ``history`` as :meth:`receive`'s (the vendors that send a ticket's state compare it
        with the stored events). Raises :class:`MappingError`, :class:`ConfigError` for an
        unreadable file."""
        mapping = self.mapping.of(vendor)
        if merchant is not None:
            mapping = replace(mapping, merchant=merchant)
        found: Iterator[ContextEvent] = VENDORS[vendor].backfill(
            records(path, BACKFILLS[vendor]), mapping, history
        )
        return found


def encode(events: Iterable[ContextEvent]) -> list[tuple[int, bytes]]:
    """Events as the ``(index, JSON)`` items :meth:`sentinelle.ingest.Ingestor.ingest` takes."""
    return [(i, msgspec.json.encode(e)) for i, e in enumerate(events)]


def records(path: Path, key: str) -> Iterator[Any]:
    """The records of an export file: a JSON page ``{key: [...]}``, a JSON array of pages or
    of records, or JSON lines of either. Raises :class:`ConfigError` if unreadable."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"cannot read {path}: {exc.strerror}") from None
    except UnicodeDecodeError:
        raise ConfigError(f"{path}: not UTF-8 text") from None
    try:
        documents = [json.loads(text)]
    except json.JSONDecodeError:
        documents = []
        for n, line in enumerate(text.splitlines(), 1):
            if line.strip():
                try:
                    documents.append(json.loads(line))
                except json.JSONDecodeError as exc:
                    raise ConfigError(
                        f"{path}:{n}: neither JSON nor JSON lines ({exc.msg})"
                    ) from None
    for document in documents:
        yield from _unpage(document, key)


def _unpage(document: Any, key: str) -> Iterator[Any]:
    if isinstance(document, list):
        for item in document:
            yield from _unpage(item, key)
    elif isinstance(document, dict) and isinstance(document.get(key), list):
        yield from document[key]
    else:
        yield document
