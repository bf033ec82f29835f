"""The ledger's side of witnessing: send the newest checkpoint to each witness, keep what they
cosign.

A witness (C2SP ``tlog-witness``, e.g. ``sentinelle witness serve``) is configured here as
``URL=VERIFIER_KEY`` (``SENTINELLE_WITNESSES``). :func:`request_cosignatures` sends each one
``POST <URL>/add-checkpoint``: ``old <size it last cosigned>``, the RFC 9162 consistency proof
from that size, a blank line and the signed checkpoint. It verifies the cosignature it gets
back with the witness's key, and records it with the root it signs and the witness's new size
in one transaction (:mod:`sentinelle.store.witnesses`). A ``409`` naming another size (the
witness's state and ours differ, e.g. its first contact or a lost database row) is retried
from that size; a witness that refuses for inconsistency is reported, loudly: that is what a
rewritten or forked history looks like from the outside.

:func:`cosigned_note` gives a recorded checkpoint with its cosignatures appended: one note
with several signatures (C2SP ``signed-note``), what ``sentinelle ledger publish`` serves.
"""

from __future__ import annotations

import base64
import http.client
import logging
import re
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Final

from sentinelle.errors import ConfigError, Error, IntegrityError, NotFoundError
from sentinelle.ledger.checkpoint import Checkpoint
from sentinelle.ledger.cosignature import CosignatureVerifier

__all__ = [
    "WitnessEndpoint",
    "WitnessOutcome",
    "cosignature_lines",
    "cosigned_note",
    "http_post",
    "newest_cosigned_note",
    "parse_witnesses",
    "recorded_checkpoint",
    "request_cosignatures",
]

_logger = logging.getLogger(__name__)

#: The media type of a 409's body (C2SP tlog-witness): the size the witness last cosigned.
#: The witness (:mod:`sentinelle.witness.http`) answers with it and this side reads it.
SIZE_MEDIA_TYPE: Final = "text/x.tlog.size"
_MAX_ANSWER: Final = 64 * 1024
_SPLIT_RE: Final = re.compile(r"[\s,]+")

#: ``post(url, body, timeout) -> (HTTP status, content type, text)``; raises ``OSError`` when
#: the witness cannot be reached.
Post = Callable[[str, bytes, float], tuple[int, str, str]]


@dataclass(frozen=True, slots=True)
class WitnessEndpoint:
    """A witness: where its ``add-checkpoint`` is, and the key its cosignatures verify with."""

    url: str
    verifier: CosignatureVerifier

    @classmethod
    def parse(cls, spec: str) -> WitnessEndpoint:
        """``URL=VERIFIER_KEY`` (split at the first ``=``: the URL may not contain one).

        Raises :class:`ConfigError` naming what is wrong.
        """
        url, sep, key = spec.strip().partition("=")
        if not sep or not key:
            raise ConfigError(f"witness {spec!r} is not URL=VERIFIER_KEY")
        if not re.fullmatch(r"https?://[^\s/?#]+(/[^\s?#]*)?", url):
            raise ConfigError(f"witness URL {url!r} is not an http(s) address")
        try:
            verifier = CosignatureVerifier.from_verifier_key(key)
        except ConfigError as exc:
            raise ConfigError(f"witness {url}: {exc}") from None
        return cls(url.rstrip("/"), verifier)

    @property
    def key(self) -> str:
        """The verifier key: how the store names this witness."""
        return self.verifier.verifier_key()


def parse_witnesses(text: str | Iterable[str]) -> list[WitnessEndpoint]:
    """Witnesses from ``URL=KEY`` items (a string separated by spaces or commas, or a list).

    Raises :class:`ConfigError` on a malformed item or a key listed twice.
    """
    items = _SPLIT_RE.split(text.strip()) if isinstance(text, str) else list(text)
    out = [WitnessEndpoint.parse(item) for item in items if item]
    keys = [w.key for w in out]
    if len(set(keys)) != len(keys):
        raise ConfigError("a witness key is listed twice")
    return out


@dataclass(frozen=True, slots=True)
class WitnessOutcome:
    """What one witness did with the checkpoint: ``ok`` (cosigned, recorded) or why not."""

    witness: WitnessEndpoint
    size: int
    ok: bool
    message: str


def http_post(url: str, body: bytes, timeout: float) -> tuple[int, str, str]:
    """POST ``body`` to ``url`` (http or https); ``(status, content type, text)``.

    Raises :class:`OSError` if the witness cannot be reached.
    """
    if not url.startswith(("http://", "https://")):  # urllib would also open file: URLs
        raise ConfigError(f"witness URL {url!r} is not http(s)")
    request = urllib.request.Request(  # noqa: S310 - the scheme is checked above
        url, data=body, method="POST", headers={"Content-Type": "text/plain; charset=utf-8"}
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout) as answer:  # noqa: S310
            return answer.status, answer.headers.get("Content-Type", ""), _read(answer)
    except urllib.error.HTTPError as answer:
        with answer:
            return answer.code, answer.headers.get("Content-Type", ""), _read(answer)


def _read(answer: Any) -> str:
    return bytes(answer.read(_MAX_ANSWER)).decode("utf-8", "replace")


def recorded_checkpoint(store: Any, size: int | None = None) -> Any:
    """The recorded checkpoint of ``size`` (default: the newest).

    Raises :class:`NotFoundError` if there is no such checkpoint.
    """
    cp = store.latest_checkpoint() if size is None else store.checkpoint_at(size)
    if cp is None:
        raise NotFoundError(
            "no checkpoint recorded yet: run `sentinelle ledger checkpoint` first"
            if size is None
            else f"no checkpoint recorded at tree size {size}"
        )
    return cp


def cosignature_lines(store: Any, cp: Any) -> list[str]:
    """The cosignature lines recorded for the checkpoint ``cp`` (its size and root), each
    ending in a newline: what to append to its note."""
    lines = [row.line for row in store.cosignatures(cp.size) if row.root == cp.root]
    return [line if line.endswith("\n") else line + "\n" for line in lines]


def cosigned_note(store: Any, size: int | None = None) -> str:
    """The recorded checkpoint of ``size`` (default: the newest) with the cosignature lines
    recorded for it appended.

    Raises :class:`NotFoundError` if there is no such checkpoint.
    """
    cp = recorded_checkpoint(store, size)
    return str(cp.note) + "".join(cosignature_lines(store, cp))


def newest_cosigned_note(store: Any) -> str | None:
    """The newest recorded checkpoint that a witness cosigned (a recorded cosignature on its
    root), with those cosignature lines appended; ``None`` if there is none. What a monitor
    asks for on each round: the newest checkpoint is usually not cosigned yet. It reads down
    from the largest cosigned size, not every cosignature ever recorded."""
    size = store.newest_cosigned_size()
    while size is not None:
        cp = store.checkpoint_at(size)
        if cp is not None:
            lines = cosignature_lines(store, cp)
            if lines:
                return str(cp.note) + "".join(lines)
        size = store.newest_cosigned_size(below=size)
    return None


def request_cosignatures(
    ledger: Any,
    witnesses: Sequence[WitnessEndpoint],
    *,
    post: Post = http_post,
    timeout: float = 10.0,
) -> list[WitnessOutcome]:
    """Send the newest recorded checkpoint to each witness; record the cosignatures.

    Returns one outcome per witness, in order. Raises :class:`NotFoundError` if no checkpoint
    is recorded, :class:`ConfigError` if no witness is configured.
    """
    if not witnesses:
        raise ConfigError(
            "no witness configured: set SENTINELLE_WITNESSES or pass --witness URL=KEY"
        )
    cp = recorded_checkpoint(ledger.store)
    checkpoint = ledger.verifier.verify(cp.note, origin=ledger.origin)
    outcomes = []
    for witness in witnesses:
        try:
            message = _witness_one(ledger, witness, cp.note, checkpoint, post, timeout)
        except (Error, OSError, http.client.HTTPException) as exc:  # HTTPException: not HTTP
            reason = exc.diagnostics() if isinstance(exc, Error) else f"unreachable ({exc})"
            # The caller says each outcome (`ledger witness`: one error line): INFO, not twice.
            _logger.info("witness %s: %s", witness.url, reason)
            outcomes.append(WitnessOutcome(witness, checkpoint.size, False, reason))
        else:
            outcomes.append(WitnessOutcome(witness, checkpoint.size, True, message))
    return outcomes


def _witness_one(
    ledger: Any,
    witness: WitnessEndpoint,
    note: str,
    checkpoint: Checkpoint,
    post: Post,
    timeout: float,
) -> str:
    """Get ``witness``'s cosignature on ``checkpoint``; return what happened, for people.

    Raises :class:`IntegrityError` if it refuses for inconsistency or answers a cosignature
    that does not verify, :class:`ConfigError` if it does not know this log or key.
    """
    store = ledger.store
    who = witness.verifier.key_id
    old = store.witness_size(witness.key) or 0
    tried: set[int] = set()
    while True:
        if old > checkpoint.size:
            raise IntegrityError(
                f"witness {who} has cosigned tree size {old}, more than the newest checkpoint's "
                f"{checkpoint.size}: the ledger lost leaves a witness had seen (restored from an "
                "old backup, or rewritten)"
            )
        tried.add(old)
        proof: list[str] = []
        if 0 < old < checkpoint.size:
            proof = ledger.consistency(old, checkpoint.size)["proof"]
        body = f"old {old}\n" + "".join(
            base64.b64encode(bytes.fromhex(h)).decode() + "\n" for h in proof
        )
        status, media_type, text = post(
            f"{witness.url}/add-checkpoint", (body + "\n" + note).encode(), timeout
        )
        if status == 200:
            # The body verified is our note's (an answer that moved the blank line would
            # leave one inside the body, which Checkpoint.from_body refuses): the cosignature
            # is on ``checkpoint``.
            cosignature = witness.verifier.verify(note + text)
            with store.writer() as w:
                w.add_cosignature(
                    size=checkpoint.size,
                    witness=witness.key,
                    root=checkpoint.root,
                    line=cosignature.line,
                    cosigned_s=cosignature.timestamp,
                    extensions="".join(e + "\n" for e in checkpoint.extensions),
                )
                w.set_witness_size(
                    witness.key, url=witness.url, size=checkpoint.size, at_us=time.time_ns() // 1000
                )
            since = f"from size {old}" if old else "first contact"
            return f"cosigned tree size {checkpoint.size} ({since})"
        reason = text.strip().splitlines()[0] if text.strip() else f"HTTP {status}"
        if status == 409 and media_type.split(";")[0].strip() == SIZE_MEDIA_TYPE:
            theirs = _size(text)
            if theirs is None:
                raise IntegrityError(f"witness {who} answered 409 with no valid size: {reason}")
            if theirs not in tried:
                _logger.info("witness %s has size %d, not %d: retrying", who, theirs, old)
                old = theirs
                continue
            raise IntegrityError(
                f"witness {who} refuses the checkpoint of size {checkpoint.size}: it cosigned "
                f"another root at tree size {theirs}: the ledger's history was rewritten after "
                "that witness saw it (or another log uses this origin)"
            )
        if status == 422:
            raise IntegrityError(
                f"witness {who} refuses the checkpoint of size {checkpoint.size}: the "
                f"consistency proof from size {old}, the size it last cosigned, does not lead "
                "from the root it cosigned to this checkpoint's: the ledger's history differs "
                f"from what that witness saw (rewritten?) [{reason}]"
            )
        if status in (403, 404):
            raise ConfigError(
                f"witness {who} does not accept this log ({status}: {reason}): configure it "
                f"with --log {checkpoint.origin}=<the key `sentinelle ledger key` prints>"
            )
        raise IntegrityError(f"witness {who} answered HTTP {status}: {reason}")


def _size(text: str) -> int | None:
    value = text.strip()
    return int(value) if re.fullmatch(r"0|[1-9][0-9]{0,18}", value) else None
