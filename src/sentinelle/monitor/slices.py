"""``sentinelle monitor --merchant M``: was one of M's accesses left out?

Each checkpoint commits, in its ``sentinelle/merchant-map/v1`` extension line, to every
merchant's own slice of the log (:mod:`sentinelle.transparency.verify` defines it, byte for
byte). After a round's checks of the whole log passed, :class:`ApiSliceCheck` asks the API for
M's slice between the checkpoint the monitor held and the new one
(``GET /v1/merchants/{M}/slice?from=&to=``, every page) and verifies it with
:func:`sentinelle.transparency.verify.verify_slice`: both ends signed by the pinned log key
and the very checkpoints the monitor checked, the map proofs, the slice's consistency proof,
and every entry between them listed, each with its inclusion proof. A failure is a
``missing_access`` finding: the log cannot show the merchant every access its own signed
checkpoints say happened (removed, altered, or hidden from the answer).
"""

from __future__ import annotations

import itertools
import json
import urllib.parse
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Final

from sentinelle.errors import Error
from sentinelle.monitor.checks import SignedCheckpoint
from sentinelle.monitor.source import ApiSource, LogUnreachableError
from sentinelle.transparency.verify import (
    MissingMapError,
    NoteError,
    VerificationError,
    VerifiedSlice,
    verify_slice,
)
from sentinelle.transparency.verify import (
    SignedCheckpoint as VerifiedCheckpoint,
)

__all__ = ["ApiSliceCheck", "MissingAccessError"]

#: Entries per page asked for: a page of 200 entries with their proofs is well under the
#: 4 MiB read per answer.
PAGE_LIMIT: Final = 200
_MAX_PAGE_BYTES: Final = 4 * 1024 * 1024
_MAX_PAGES: Final = 100_000


class MissingAccessError(Error):
    """The merchant's slice answer does not prove the list complete; ``pages`` is the answer,
    kept as evidence."""

    def __init__(self, message: str, pages: Sequence[dict[str, Any]]) -> None:
        super().__init__(message)
        self.pages = list(pages)


@dataclass(frozen=True, slots=True)
class ApiSliceCheck:
    """Checks ``merchant``'s slice over ``api``.

    Called as :class:`~sentinelle.monitor.monitor.SliceCheck` (``old``: the checkpoint held,
    ``new``: the one the round would move to, ``log_keys``: the round's keys, the pinned ones
    and those the log rotated to). Raises :class:`MissingAccessError`, or
    :class:`LogUnreachableError` when the answer cannot be had or read.
    """

    api: ApiSource
    merchant: str
    origin: str

    def __call__(
        self, old: SignedCheckpoint | None, new: SignedCheckpoint, log_keys: Sequence[str]
    ) -> None:
        # From the checkpoint held, if it carries a map; otherwise (the first round, or a
        # checkpoint from before slices) from the start of the log.
        start = old.size if old is not None and old.checkpoint.map_root is not None else 0
        pages = self._pages(start, new.size)
        verified = self._verify(pages, log_keys)
        ends: list[tuple[VerifiedCheckpoint | None, SignedCheckpoint]] = [
            (verified.to_checkpoint, new)
        ]
        if old is not None and start:
            ends.append((verified.from_checkpoint, old))
        for got, checked in ends:
            if got != checked.checkpoint:
                raise MissingAccessError(
                    f"the slice answer for merchant {self.merchant!r} is proven against another "
                    f"checkpoint of size {checked.size} than the one the monitor checked: two "
                    "signed notes for one tree",
                    pages,
                )

    def _pages(self, start: int, end: int) -> list[dict[str, Any]]:
        merchant = urllib.parse.quote(self.merchant, safe="")
        query: dict[str, str | int] = {"from": start, "to": end, "limit": PAGE_LIMIT}
        pages: list[dict[str, Any]] = []
        while True:
            path = f"/v1/merchants/{merchant}/slice?{urllib.parse.urlencode(query)}"
            page = self.api.get_json(path, limit=_MAX_PAGE_BYTES)
            if page is None:
                raise LogUnreachableError(
                    f"{self.api.where}: no slice of merchant {self.merchant!r} (404)"
                )
            pages.append(page)
            following = page.get("next")
            if following is None:
                return pages
            if not isinstance(following, str) or len(pages) >= _MAX_PAGES:
                raise LogUnreachableError(
                    f"{self.api.where}: the slice answer's 'next' is unusable"
                )
            query = {"from": start, "to": end, "limit": PAGE_LIMIT, "cursor": following}

    def _verify(self, pages: list[dict[str, Any]], keys: Sequence[str]) -> VerifiedSlice:
        problems = []
        # The two ends of an answer across a rotation are signed by two of the keys.
        for to_key, from_key in itertools.product(keys, keys):
            try:
                return verify_slice(
                    pages,
                    verifier_key=to_key,
                    from_verifier_key=from_key,
                    merchant=self.merchant,
                    origin=self.origin,
                )
            except NoteError as exc:  # another pinned key may have signed it
                problems.append(str(exc))
            except MissingMapError as exc:
                raise LogUnreachableError(f"merchant slice: {exc}") from None
            except VerificationError as exc:
                raise MissingAccessError(
                    f"merchant {self.merchant!r}: the log cannot prove its list of accesses "
                    f"complete: {exc}",
                    pages,
                ) from None
            except (KeyError, TypeError, ValueError, AttributeError) as exc:
                raise LogUnreachableError(
                    f"{self.api.where}: the slice answer is malformed ({type(exc).__name__}: {exc})"
                ) from None
        raise MissingAccessError(
            f"the slice answer's checkpoints are not signed by a pinned log key: "
            f"{'; '.join(dict.fromkeys(problems))}",
            pages,
        )


def pages_json(pages: Sequence[dict[str, Any]]) -> str:
    """The answer's pages as evidence (one JSON document)."""
    return json.dumps(list(pages), indent=1, ensure_ascii=False) + "\n"
