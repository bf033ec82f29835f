"""A transparency log witness: C2SP ``tlog-witness`` ``add-checkpoint``, cosigning per
C2SP ``tlog-cosignature``.

For each log it knows (an origin and the verifier keys it accepts for it), the witness keeps
the latest checkpoint it cosigned (:mod:`.state`) and cosigns a new one only if it extends
that one: the log's signature verifies, the ``old`` size the log sends is the witness's own,
and the consistency proof leads from the witness's (size, root) to the new checkpoint. A
smaller tree, or the same size with another root, is refused: a log that rewrote its history,
or shows different histories to different parties, cannot get it cosigned. The new state is
committed before the cosignature is returned.

Refusals carry the HTTP status the spec gives them (:class:`WitnessRefusedError`):

====  =====================================================================================
400   malformed request; ``old`` larger than the checkpoint's size
403   no signature by a key the witness accepts for the origin
404   unknown origin
409   ``old`` is not the size the witness last cosigned (the body says which, as
      ``text/x.tlog.size``); or the same size with another root hash
413   request larger than 64 KiB (our limit; the spec has none)
422   the consistency proof does not verify (or is not empty when ``old`` is 0)
====  =====================================================================================
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Final

from sentinelle.errors import ConfigError, Error, IntegrityError
from sentinelle.ledger.checkpoint import Checkpoint, Verifier, _b64decode_canonical, parse_note
from sentinelle.ledger.cosignature import Cosigner
from sentinelle.ledger.merkle import verify_consistency
from sentinelle.witness.state import LogState, WitnessState

__all__ = ["MAX_REQUEST", "Witness", "WitnessRefusedError", "parse_logs"]

_logger = logging.getLogger(__name__)

MAX_REQUEST: Final = 64 * 1024
_MAX_PROOF: Final = 63
_OLD_RE: Final = re.compile(r"old (0|[1-9][0-9]*)", re.ASCII)


class WitnessRefusedError(Error):
    """The witness refuses a checkpoint; ``status`` is the HTTP status of the refusal.

    ``size`` is the tree size the witness last cosigned, for a 409.
    """

    def __init__(self, status: int, message: str, *, size: int | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.size = size


def parse_logs(specs: Iterable[str]) -> dict[str, list[Verifier]]:
    """``ORIGIN=VERIFIER_KEY`` items into origin → accepted log keys (several per origin
    allowed, e.g. across a key rotation).

    Raises :class:`ConfigError` naming the bad item.
    """
    logs: dict[str, list[Verifier]] = {}
    for spec in specs:
        origin, sep, key = spec.partition("=")
        if not sep or not origin or not key:
            raise ConfigError(f"--log {spec!r} is not ORIGIN=VERIFIER_KEY")
        if any(c < " " for c in origin):
            raise ConfigError(f"--log {spec!r}: the origin has a control character")
        try:
            verifier = Verifier.from_verifier_key(key)
        except ConfigError as exc:
            raise ConfigError(f"--log {origin}=…: {exc}") from None
        logs.setdefault(origin, []).append(verifier)
    return logs


class Witness:
    """Cosigns the checkpoints of the logs it knows, if each extends the last it cosigned."""

    def __init__(
        self,
        *,
        key: Cosigner,
        state: WitnessState,
        logs: Mapping[str, Sequence[Verifier]],
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.key = key
        self.state = state
        self.logs = {origin: list(keys) for origin, keys in logs.items()}
        self._clock = clock

    def add_checkpoint(self, request: bytes) -> str:
        """Handle an ``add-checkpoint`` request body; return the cosignature line(s).

        Raises :class:`WitnessRefusedError` (with its HTTP status) if the witness refuses; its
        state is then unchanged.
        """
        old, proof, note = _parse_request(request)
        try:
            body, _ = parse_note(note)
            checkpoint = Checkpoint.from_body(body)
        except IntegrityError as exc:
            raise WitnessRefusedError(400, f"the checkpoint is malformed: {exc}") from None
        keys = self.logs.get(checkpoint.origin)
        if keys is None:
            raise WitnessRefusedError(404, f"unknown log {checkpoint.origin!r}")
        if not _signed_by_any(note, keys):
            raise WitnessRefusedError(
                403, f"the checkpoint has no valid signature by a key known for {checkpoint.origin}"
            )
        if old > checkpoint.size:
            raise WitnessRefusedError(
                400, f"old size {old} is larger than the checkpoint's size {checkpoint.size}"
            )
        text = request.decode("utf-8")
        line = ""
        with self.state.transaction() as tx:
            known = tx.get(checkpoint.origin)
            known_size = known.size if known is not None else 0
            if old != known_size:
                raise WitnessRefusedError(
                    409,
                    f"old size {old} is not {known_size}, the size last cosigned",
                    size=known_size,
                )
            problem = _inconsistency(known, old, proof, checkpoint)
            if problem is None:
                now = int(self._clock())
                line = self.key.cosign(body, timestamp=now)
                tx.put(
                    LogState(
                        checkpoint.origin,
                        checkpoint.size,
                        checkpoint.root,
                        note + line,
                        time.time_ns() // 1000,
                    )
                )
        if problem is not None:
            status, reason = problem
            # The log signed this: proof that it misbehaved (or a bug); keep it, once.
            if self.state.keep_evidence(checkpoint.origin, reason, text, body):
                _logger.warning("refused a checkpoint of %s: %s", checkpoint.origin, reason)
            else:
                _logger.info("refused a checkpoint of %s again: %s", checkpoint.origin, reason)
            raise WitnessRefusedError(status, reason, size=known_size if status == 409 else None)
        _logger.info("cosigned %s at size %d", checkpoint.origin, checkpoint.size)
        return line


def _signed_by_any(note: str, keys: Sequence[Verifier]) -> bool:
    """Whether a key known for the log signed the note (signatures of others are ignored)."""
    for key in keys:
        try:
            key.open_note(note)
        except IntegrityError:
            continue
        return True
    return False


def _inconsistency(
    known: LogState | None, old: int, proof: list[bytes], checkpoint: Checkpoint
) -> tuple[int, str] | None:
    """``(status, reason)`` if ``checkpoint`` does not extend the witness's ``known`` state."""
    if known is None or old == 0:
        if proof:
            return 422, "the consistency proof from size 0 must be empty"
        return None
    if old == checkpoint.size:
        if checkpoint.root != known.root:
            return 409, (
                f"the checkpoint of size {old} has another root hash than the one cosigned at "
                "that size: the log's history was rewritten, or it shows different histories"
            )
        if proof:
            return 422, "the consistency proof between equal sizes must be empty"
        return None
    try:
        verify_consistency(old, checkpoint.size, known.root, checkpoint.root, proof)
    except IntegrityError as exc:
        return 422, (
            f"the consistency proof from size {old} to {checkpoint.size} does not verify ({exc}): "
            "the checkpoint does not extend the one cosigned"
        )
    return None


def _parse_request(request: bytes) -> tuple[int, list[bytes], str]:
    """``(old size, proof hashes, signed note)`` of an add-checkpoint body.

    Raises :class:`WitnessRefusedError` 400 (or 413) naming what is malformed.
    """
    if len(request) > MAX_REQUEST:
        raise WitnessRefusedError(413, f"the request is larger than {MAX_REQUEST} bytes")
    try:
        text = request.decode("utf-8")
    except UnicodeDecodeError:
        raise WitnessRefusedError(400, "the request is not UTF-8") from None
    head, sep, note = text.partition("\n\n")
    if not sep:
        raise WitnessRefusedError(400, "the request has no empty line before the checkpoint")
    lines = head.split("\n")
    match = _OLD_RE.fullmatch(lines[0])
    if match is None:
        raise WitnessRefusedError(400, f"the first line {lines[0]!r} is not 'old <size>'")
    if len(lines) - 1 > _MAX_PROOF:
        raise WitnessRefusedError(400, f"the consistency proof has more than {_MAX_PROOF} lines")
    proof = []
    for line in lines[1:]:
        digest = _b64decode_canonical(line)
        if digest is None or len(digest) != 32:
            raise WitnessRefusedError(400, f"proof line {line!r} is not a base64 SHA-256 hash")
        proof.append(digest)
    size = int(match.group(1))
    if size > (1 << 63) - 1:
        raise WitnessRefusedError(400, f"old size {size} is out of range")
    return size, proof, note
