"""Where the monitor reads the log: Sentinelle's API, or a published C2SP ``tlog-tiles`` tree.

* :class:`ApiSource` — ``GET /v1/ledger/checkpoint`` (the newest checkpoint the log signed),
  ``GET /v1/ledger/checkpoint?witnessed=true`` (the newest one witnesses cosigned, with their
  cosignature lines) and ``GET /v1/ledger/consistency?old=&new=``, with an API key of any role
  that may read the checkpoint (``merchant``, ``auditor``, ``reader``…) sent as
  ``Authorization: Bearer``. Redirects are refused: the key must not follow one elsewhere.
* :class:`PublishedSource` — what ``sentinelle ledger publish DIR --tiles`` writes, in a
  directory or behind an ``http(s)://`` URL: ``checkpoint`` (with its cosignatures) and the
  hash tiles, from which :func:`~sentinelle.monitor.checks.tree_from_tiles` computes the proof.

Everything read is bounded and parsed strictly. A log that cannot be reached, or answers
something unusable (an HTTP error, malformed JSON, a missing tile), raises
:class:`LogUnreachableError`: that proves nothing against the log, unlike a signed note that
contradicts another, which is what the checks look for.
"""

from __future__ import annotations

import http.client
import json
import re
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final, Protocol

from sentinelle.errors import ConfigError, Error, IntegrityError
from sentinelle.ledger.checkpoint import NO_CHECKPOINT, NO_WITNESSED_CHECKPOINT
from sentinelle.ledger.publish import tile_path
from sentinelle.monitor.checks import MAX_PROOF_HASHES, LogTree, tree_from_tiles

__all__ = [
    "ApiSource",
    "LogSource",
    "LogUnreachableError",
    "PublishedSource",
    "source_for",
]

TIMEOUT_SECONDS: Final = 10.0
_MAX_ANSWER: Final = 1024 * 1024  # a checkpoint with 100 signatures is ~12 KB
_MAX_NOTE: Final = 64 * 1024
_HEX32: Final = re.compile(r"[0-9a-f]{64}", re.ASCII)
_URL: Final = re.compile(r"https?://[^\s/?#@]+(/[^\s?#]*)?", re.ASCII)
#: The API's answers to a log with no checkpoint, or none witnessed (the 404s of
#: ``GET /v1/ledger/checkpoint``, sentinelle.api.routes.ledger): any other 404 is a wrong URL.
_NONE_YET: Final = frozenset({NO_CHECKPOINT, NO_WITNESSED_CHECKPOINT})


class LogUnreachableError(Error):
    """The log could not be reached, or its answer was not usable: no proof of misbehaviour."""


class LogSource(Protocol):
    """A log as the monitor reads it."""

    @property
    def where(self) -> str:
        """The log's address for people (never a secret)."""
        ...

    def latest(self) -> str | None:
        """The newest signed checkpoint note (``None``: the log says it has none)."""
        ...

    def witnessed(self) -> str | None:
        """The newest checkpoint note cosigned by witnesses, with their lines (``None``: none)."""
        ...

    def tree(self, old_size: int, new_size: int) -> LogTree:
        """What the log says of its tree from ``old_size`` to ``new_size``."""
        ...

    def key_history(self) -> dict[str, Any] | None:
        """The log's list of verifier keys (``GET /v1/ledger/keys``), if it serves one."""
        ...


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *_args: Any, **_kwargs: Any) -> None:
        return None  # the 3xx is then raised as an HTTPError, reported as unusable


@dataclass(frozen=True, slots=True)
class _Answer:
    status: int
    body: bytes


def _get(url: str, headers: dict[str, str], *, follow: bool, limit: int = _MAX_ANSWER) -> _Answer:
    """GET ``url``; its status and at most ``limit`` bytes of body.

    Raises :class:`LogUnreachableError` if it cannot be reached or the body is longer.
    """
    handlers = [] if follow else [_NoRedirect()]
    opener = urllib.request.build_opener(*handlers)
    request = urllib.request.Request(url, headers=headers)  # noqa: S310 - scheme checked
    try:
        with opener.open(request, timeout=TIMEOUT_SECONDS) as answer:
            status, body = answer.status, answer.read(limit + 1)
    except urllib.error.HTTPError as answer:
        with answer:
            status, body = answer.code, answer.read(limit + 1)
    except (OSError, ValueError, http.client.HTTPException) as exc:  # refused, timeout, TLS…
        raise LogUnreachableError(f"{_redacted(url)} cannot be reached: {exc}") from None
    if len(body) > limit:
        raise LogUnreachableError(f"{_redacted(url)} answered more than {limit} bytes")
    return _Answer(status, body)


def _redacted(url: str) -> str:
    """``url`` without its user info and query (either may hold a token)."""
    parts = urllib.parse.urlsplit(url)
    host = parts.netloc.rpartition("@")[2]
    return urllib.parse.urlunsplit((parts.scheme, host, parts.path, "", ""))


def _detail(body: bytes) -> str:
    try:
        detail = json.loads(body)["detail"]
    except (ValueError, KeyError, TypeError, RecursionError):
        detail = body[:200].decode("utf-8", "replace")
    return str(detail).strip().splitlines()[0] if str(detail).strip() else "no detail"


class ApiSource:
    """A Sentinelle API at ``url``, read with ``api_key``.

    Raises :class:`ConfigError` if the URL is not http(s) or the key is empty.
    """

    def __init__(self, url: str, api_key: str) -> None:
        if not _URL.fullmatch(url):
            raise ConfigError(f"the log's API URL {url!r} is not an http(s) address")
        if not api_key or any(c.isspace() for c in api_key):
            raise ConfigError("the API key is empty or contains spaces")
        self._url = url.rstrip("/")
        self._headers = {"Authorization": f"Bearer {api_key}", "Accept": "application/json"}

    @property
    def where(self) -> str:
        """The API's base URL."""
        return self._url

    def __repr__(self) -> str:
        return f"ApiSource({self._url!r})"  # never the key

    def get_json(
        self, path: str, *, limit: int = _MAX_ANSWER, none_if: frozenset[str] | None = None
    ) -> dict[str, Any] | None:
        """``GET`` the API's ``path`` (with its query): the JSON object answered, or ``None``
        on a 404 (with ``none_if``, only on a 404 whose detail is one of those: the log's own
        "there is none", not a route nobody serves there). Raises :class:`LogUnreachableError`
        on any other status, a body longer than ``limit`` bytes, or one that is not a JSON
        object."""
        url = f"{self._url}{path}"
        answer = _get(url, self._headers, follow=False, limit=limit)
        if answer.status == 404:
            detail = _detail(answer.body)
            if none_if is None or detail in none_if:
                return None
            # A wrong URL (a path prefix, another server) answers 404 to every route: that is
            # not the log saying it has nothing, which only the log's own answer can say.
            raise LogUnreachableError(
                f"{_redacted(url)} answered HTTP 404 ({detail}): no such route there; is "
                f"{self._url} the address of the log's API?"
            )
        if answer.status != 200:
            raise LogUnreachableError(
                f"{_redacted(url)} answered HTTP {answer.status}: {_detail(answer.body)}"
            )
        try:
            data = json.loads(answer.body)
        except (ValueError, RecursionError):  # RecursionError: nested deeper than Python parses
            raise LogUnreachableError(f"{_redacted(url)} did not answer JSON") from None
        if not isinstance(data, dict):
            raise LogUnreachableError(f"{_redacted(url)} did not answer a JSON object")
        return data

    def _note(self, path: str) -> str | None:
        data = self.get_json(path, none_if=_NONE_YET)
        if data is None:
            return None
        note = data.get("note")
        if not isinstance(note, str) or not note or len(note) > _MAX_NOTE:
            raise LogUnreachableError(f"{self._url}{path} has no usable 'note'")
        return note

    def latest(self) -> str | None:
        """``GET /v1/ledger/checkpoint``'s note."""
        return self._note("/v1/ledger/checkpoint")

    def key_history(self) -> dict[str, Any] | None:
        """``GET /v1/ledger/keys``: every verifier key of the log with the tree sizes it signs
        (``None``: a log that does not serve it). Nothing in it is trusted until
        :func:`sentinelle.transparency.verify.verify_key_history` checked it from a pinned
        key."""
        return self.get_json("/v1/ledger/keys")

    def witnessed(self) -> str | None:
        """``GET /v1/ledger/checkpoint?witnessed=true``'s note."""
        return self._note("/v1/ledger/checkpoint?witnessed=true")

    def tree(self, old_size: int, new_size: int) -> LogTree:
        """``GET /v1/ledger/consistency?old=&new=``, checked to be about those sizes.

        Raises :class:`LogUnreachableError` if the answer is missing or malformed.
        """
        path = f"/v1/ledger/consistency?old={old_size}&new={new_size}"
        data = self.get_json(path)
        where = f"{self._url}{path}"
        if data is None:
            raise LogUnreachableError(f"{where}: the log has no such consistency proof (404)")
        proof = data.get("proof")
        if (
            data.get("old_size") != old_size
            or data.get("new_size") != new_size
            or not isinstance(proof, list)
            or len(proof) > MAX_PROOF_HASHES
        ):
            raise LogUnreachableError(f"{where}: the answer is not a proof between those sizes")
        hexes = [data.get("old_root"), data.get("new_root"), *proof]
        if not all(isinstance(h, str) and _HEX32.fullmatch(h) for h in hexes):
            raise LogUnreachableError(f"{where}: a hash is not 64 lowercase hex digits")
        old_root, new_root, *path_hashes = (bytes.fromhex(h) for h in hexes)
        return LogTree(old_root, new_root, tuple(path_hashes))


class PublishedSource:
    """The files of ``sentinelle ledger publish --tiles``: a directory, or an http(s) URL.

    Raises :class:`ConfigError` if ``location`` is neither an http(s) URL nor a directory path.
    """

    def __init__(self, location: str) -> None:
        self._url: str | None = None
        self._dir: Path | None = None
        if location.startswith(("http://", "https://")):
            if not _URL.fullmatch(location):
                raise ConfigError(f"the published log's URL {location!r} is not usable")
            self._url = location.rstrip("/")
        elif "://" in location:
            raise ConfigError(f"the published log {location!r} is neither http(s) nor a path")
        else:
            self._dir = Path(location)

    @property
    def where(self) -> str:
        """The URL or directory."""
        return self._url or str(self._dir)

    def _read(self, name: str, limit: int) -> bytes | None:
        if self._url is not None:
            answer = _get(f"{self._url}/{name}", {}, follow=True, limit=limit)
            if answer.status == 404:
                return None
            if answer.status != 200:
                raise LogUnreachableError(
                    f"{self._url}/{name} answered HTTP {answer.status}: {_detail(answer.body)}"
                )
            return answer.body
        path = Path(self.where) / name
        try:
            with path.open("rb") as f:
                data = f.read(limit + 1)
        except FileNotFoundError:
            if not Path(self.where).is_dir():  # a wrong path, not a checkpoint deleted
                raise LogUnreachableError(f"{self.where} is not a directory") from None
            return None
        except OSError as exc:
            raise LogUnreachableError(f"cannot read {path}: {exc.strerror}") from None
        if len(data) > limit:
            raise LogUnreachableError(f"{path} is larger than {limit} bytes")
        return data

    def latest(self) -> str | None:
        """The published ``checkpoint``."""
        data = self._read("checkpoint", _MAX_NOTE)
        if data is None:
            return None
        try:
            return data.decode("utf-8")
        except UnicodeDecodeError:
            raise LogUnreachableError(f"{self.where}/checkpoint is not UTF-8") from None

    def key_history(self) -> None:
        """Published files hold no list of keys: only the pinned keys are checked."""
        return None

    def witnessed(self) -> str | None:
        """The same ``checkpoint``: it carries the cosignatures recorded when it was published."""
        return self.latest()

    def tree(self, old_size: int, new_size: int) -> LogTree:
        """Computed from the published tiles of the tree of ``new_size``.

        Raises :class:`LogUnreachableError` if a tile is missing or malformed.
        """

        def fetch(level: int, index: int, width: int) -> bytes:
            name = tile_path(level, index, width)
            data = self._read(name, width * 32)
            if data is None:
                raise LogUnreachableError(
                    f"{self.where}/{name} is not published (publish with --tiles)"
                )
            return data

        try:
            return tree_from_tiles(fetch, old_size, new_size)
        except IntegrityError as exc:
            raise LogUnreachableError(f"{self.where}: unusable tiles: {exc}") from None


def source_for(*, url: str | None, published: str | None, api_key: str | None) -> LogSource:
    """The source the configuration names: exactly one of ``url`` (then ``api_key``) and
    ``published``. Raises :class:`ConfigError` otherwise."""
    if (url is None) == (published is None):
        raise ConfigError("say where the log is: either its API (url) or a published copy")
    if url is not None:
        if not api_key:
            raise ConfigError(
                "reading the API needs a key: set SENTINELLE_MONITOR_API_KEY or pass "
                "--api-key-file (never the key itself on the command line)"
            )
        return ApiSource(url, api_key)
    return PublishedSource(published or "")
