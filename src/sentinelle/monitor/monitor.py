"""One round of the monitor: fetch, check, decide, remember, report.

A round reads the log's newest checkpoint and, when witnesses are pinned, the newest one they
cosigned. It checks each against the checkpoint it verified last (its *reference*), with
:mod:`sentinelle.monitor.checks`, and ends with an :class:`Outcome` per finding:

=====  ======================  ================================================================
exit   outcome                 meaning
=====  ======================  ================================================================
0      ``ok``                  every check passed; the state moved to the new checkpoint
3      ``unreachable``         the log could not be read, or had nothing usable: proves nothing
4      ``cosignatures``        fewer valid cosignatures than the quorum, or a forged one
5      ``bad_checkpoint``      a checkpoint no pinned log key signed (or malformed, other origin)
6      ``smaller_tree``        the log serves fewer leaves than it signed before
7      ``rewritten_history``   the log's tree at the reference's size has another root
8      ``split_view``          two signed roots for one size, or no proof ties them
9      ``missing_access``      the merchant's slice leaves out an access (``--merchant``)
=====  ======================  ================================================================

A round with several findings exits with the largest code (the most serious). The state moves
forward only after a round with no finding; a finding about the log's history keeps the two
signed notes in ``DIR/evidence/``. Each finding has a stable id, so a loop reports it once
per channel, not on every round; findings that can pass (unreachable, cosignatures) are
forgotten after an OK round, so they are reported again if they come back.
"""

from __future__ import annotations

import datetime as dt
import enum
import hashlib
import json
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final, Protocol

from sentinelle.errors import Error, IntegrityError
from sentinelle.ledger.checkpoint import Verifier
from sentinelle.monitor.checks import (
    LogKeys,
    LogTree,
    Relation,
    SignedCheckpoint,
    count_cosignatures,
    follow_keys,
    open_checkpoint,
    relate,
)
from sentinelle.monitor.config import MonitorConfig
from sentinelle.monitor.slices import MissingAccessError, pages_json
from sentinelle.monitor.source import LogSource, LogUnreachableError
from sentinelle.monitor.state import MonitorState, StateDir, evidence_stamp
from sentinelle.transparency import verify

__all__ = [
    "SEEN",
    "Finding",
    "Monitor",
    "Outcome",
    "Reporter",
    "ReportError",
    "Round",
    "SliceCheck",
]

_logger = logging.getLogger(__name__)

#: The pseudo-channel every finding is delivered to first: the monitor's own output.
SEEN: Final = "seen"


class Outcome(enum.IntEnum):
    """A round's result; the value is the command's exit code (larger: more serious)."""

    OK = 0
    UNREACHABLE = 3
    COSIGNATURES = 4
    BAD_CHECKPOINT = 5
    SMALLER_TREE = 6
    REWRITTEN_HISTORY = 7
    SPLIT_VIEW = 8
    MISSING_ACCESS = 9

    @property
    def label(self) -> str:
        """``split_view``: how reports and ids name it."""
        return self.name.lower()


#: Findings that may pass by themselves: forgotten after an OK round, reported again if back.
_TRANSIENT: Final = frozenset({Outcome.UNREACHABLE, Outcome.COSIGNATURES})


@dataclass(frozen=True, slots=True)
class Finding:
    """One thing wrong: its outcome, what a person reads, a stable id, the evidence folder."""

    outcome: Outcome
    message: str
    id: str
    log: str
    held_size: int | None = None
    served_size: int | None = None
    evidence: Path | None = None

    def to_dict(self) -> dict[str, object]:
        """The JSON form (webhook bodies, ``--json``)."""
        return {
            "finding": self.outcome.label,
            "exit_code": int(self.outcome),
            "id": self.id,
            "log": self.log,
            "message": self.message,
            "held_size": self.held_size,
            "served_size": self.served_size,
            "evidence": None if self.evidence is None else str(self.evidence),
        }


@dataclass(frozen=True, slots=True)
class Round:
    """What one round found, and where the state stands after it."""

    findings: tuple[Finding, ...]
    new: tuple[Finding, ...]  # findings not seen by an earlier round
    size: int | None  # the verified tree size the state holds after the round
    advanced: bool  # the state moved to a newer checkpoint this round
    seconds: float

    @property
    def outcome(self) -> Outcome:
        """The most serious finding's outcome, or OK."""
        return max((f.outcome for f in self.findings), default=Outcome.OK)


class ReportError(Error):
    """A report could not be delivered (kept for the next round)."""


class Reporter(Protocol):
    """A channel findings are reported to once each (``webhook``, ``email``)."""

    @property
    def channel(self) -> str:
        """The channel's name in the state's ``reported`` lists."""
        ...

    def send(self, finding: Finding) -> None:
        """Deliver one finding. Raises :class:`ReportError` on failure."""
        ...


class SliceCheck(Protocol):
    """The merchant-slice completeness check (``--merchant``,
    :class:`sentinelle.monitor.slices.ApiSliceCheck`). Called after the log's checks passed,
    with the checkpoint held, the new one and the round's log keys (the pinned ones and those
    the log rotated to: the two ends of an answer across a rotation are signed by two of them);
    raises :class:`~sentinelle.monitor.slices.MissingAccessError` (a ``missing_access``
    finding) or :class:`LogUnreachableError`."""

    def __call__(
        self, old: SignedCheckpoint | None, new: SignedCheckpoint, log_keys: Sequence[str]
    ) -> None: ...


def _finding_id(outcome: Outcome, *parts: str) -> str:
    digest = hashlib.sha256("\n".join((outcome.label, *parts)).encode()).hexdigest()
    return f"{outcome.label}-{digest[:16]}"


@dataclass(frozen=True, slots=True)
class _Keys:
    """The log keys of one round: as verifiers (the pinned ones, or those and the keys the log
    rotated to), what :func:`follow_keys` found, and why the log's list could not be read."""

    verifiers: tuple[Verifier, ...]
    followed: LogKeys
    unreachable: LogUnreachableError | None = None


@dataclass
class _Round:
    """The working state of one round."""

    config: MonitorConfig
    source: LogSource
    state_dir: StateDir
    now: dt.datetime
    keys: _Keys
    findings: list[Finding] = field(default_factory=list)

    def find(
        self,
        outcome: Outcome,
        message: str,
        *,
        held: SignedCheckpoint | None = None,
        served: SignedCheckpoint | str | None = None,
        tree: LogTree | None = None,
        key: str = "",
        extra: dict[str, str] | None = None,
    ) -> None:
        served_note = served.note if isinstance(served, SignedCheckpoint) else served
        ident = _finding_id(
            outcome, key, held.note if held else "", served_note or "", self.config.origin
        )
        evidence = None
        if outcome not in _TRANSIENT or outcome is Outcome.COSIGNATURES and "forged" in key:
            files = {"finding.txt": message + "\n"}
            if held is not None:
                files["held-checkpoint"] = held.note
            if served_note is not None:
                files["served-checkpoint"] = served_note
            if tree is not None:
                files["log-tree.json"] = _tree_json(tree) + "\n"
            files.update(extra or {})
            size = served.size if isinstance(served, SignedCheckpoint) else "x"
            name = f"{evidence_stamp(self.now)}-{outcome.label}-{size}-{ident[-8:]}"
            evidence = self.state_dir.keep_evidence(name, files)
        self.findings.append(
            Finding(
                outcome,
                message,
                ident,
                self.config.origin,
                held_size=None if held is None else held.size,
                served_size=served.size if isinstance(served, SignedCheckpoint) else None,
                evidence=evidence,
            )
        )

    def open(self, note: str, what: str) -> SignedCheckpoint | None:
        """The checkpoint of ``note`` (``what``: "the newest checkpoint"), or None with a
        bad_checkpoint finding."""
        try:
            return open_checkpoint(
                note,
                origin=self.config.origin,
                log_keys=self.keys.verifiers,
                spans=self.keys.followed.spans,
            )
        except IntegrityError as exc:
            self.find(
                Outcome.BAD_CHECKPOINT,
                f"{what} of {self.source.where} does not verify with the pinned log key(s): "
                f"{exc}. A man in the middle, a key the log rotated without you pinning the new "
                "one, or a forgery: check the log's key out of band",
                served=note,
            )
            return None

    def compare(self, held: SignedCheckpoint | None, new: SignedCheckpoint, what: str) -> bool:
        """Whether ``new`` extends ``held`` (or ``held`` is None); otherwise a finding."""
        if held is None:
            return True
        tree = None
        if new.size > held.size > 0:
            tree = self.source.tree(held.size, new.size)  # LogUnreachableError propagates
        relation = relate(held.checkpoint, new.checkpoint, tree)
        if relation in (Relation.SAME, Relation.EXTENDS):
            return True
        where, h, n = self.source.where, held.size, new.size
        if relation is Relation.SMALLER:
            self.find(
                Outcome.SMALLER_TREE,
                f"{what} of {where} has {n} leaves, but the log signed a tree of {h} leaves "
                "before (held): checkpoints were deleted or the log was rolled back",
                held=held,
                served=new,
            )
        elif relation is Relation.REWRITTEN:
            self.find(
                Outcome.REWRITTEN_HISTORY,
                f"{what} of {where} (size {n}) is signed over a tree whose first {h} leaves "
                f"hash to another root than the checkpoint of size {h} the log signed before "
                "(held): leaves were altered or removed and the tree recomputed and re-signed",
                held=held,
                served=new,
                tree=tree,
            )
        elif n == h:
            other = "root" if new.root != held.root else "merchant map (extension lines)"
            self.find(
                Outcome.SPLIT_VIEW,
                f"{what} of {where} is signed over another {other} for the same size {n} than "
                "the checkpoint the log signed before (held): two histories under one key",
                held=held,
                served=new,
            )
        else:
            self.find(
                Outcome.SPLIT_VIEW,
                f"{what} of {where} (size {n}) is not consistent with the checkpoint of size "
                f"{h} the log signed before (held): no valid consistency proof ties them, the "
                "log serves a history that does not contain the one it showed",
                held=held,
                served=new,
                tree=tree,
            )
        return False

    def cosigned(self, cp: SignedCheckpoint) -> bool:
        """Whether the quorum of pinned witnesses cosigned ``cp``; otherwise a finding."""
        counted = count_cosignatures(cp.note, self.config.witnesses)
        quorum = self.config.quorum
        if counted.bad:
            self.find(
                Outcome.COSIGNATURES,
                f"the checkpoint of size {cp.size} from {self.source.where} carries a "
                f"cosignature line of witness(es) {', '.join(counted.bad)} that does not verify: "
                "forged or corrupted",
                served=cp,
                key="forged:" + ",".join(counted.bad),
            )
            return False
        if len(counted.valid) < quorum:
            self.find(
                Outcome.COSIGNATURES,
                f"the checkpoint of size {cp.size} from {self.source.where} has "
                f"{len(counted.valid)} valid cosignature(s) of pinned witnesses, the quorum is "
                f"{quorum}; missing: {', '.join(counted.missing)}. Witnesses may be late (run "
                "`sentinelle ledger witness` on the log) or refuse its history",
                served=cp,
                key="missing:" + ",".join(counted.missing),
            )
            return False
        return True


def _tree_json(tree: LogTree) -> str:
    return json.dumps(
        {
            "old_root": tree.old_root.hex(),
            "new_root": tree.new_root.hex(),
            "proof": [h.hex() for h in tree.proof],
        },
        indent=2,
    )


class Monitor:
    """Runs rounds over one log with one state directory."""

    def __init__(
        self,
        *,
        config: MonitorConfig,
        source: LogSource,
        state_dir: StateDir,
        reporters: Sequence[Reporter] = (),
        slice_check: SliceCheck | None = None,
        clock: Callable[[], dt.datetime] = lambda: dt.datetime.now(dt.UTC),
    ) -> None:
        self.config = config
        self.source = source
        self.state_dir = state_dir
        self.reporters = tuple(reporters)
        self.slice_check = slice_check
        self._clock = clock

    def round(self) -> Round:
        """Fetch, check, remember and report once.

        Raises :class:`~sentinelle.errors.ConfigError` if the state directory is refused
        (corrupt state, another monitor running, loose permissions); findings about the log
        are in the returned :class:`Round`, never raised.
        """
        start = self._clock()
        with self.state_dir.locked():
            keys = self._keys_followed()
            state = self.state_dir.load(origin=self.config.origin, log_keys=keys.verifiers)
            before = state
            work = _Round(self.config, self.source, self.state_dir, start, keys)
            try:
                candidate = self._check(work, state.checkpoint)
            except LogUnreachableError as exc:
                work.find(Outcome.UNREACHABLE, str(exc), key=self.source.where)
                candidate = None
            advanced = False
            held = state.checkpoint
            if not work.findings and candidate is not None:
                if held is None or candidate.size > held.size:
                    held, advanced = candidate, True
            state = self._remember(state, work.findings, held, advanced)
            new = tuple(f for f in work.findings if SEEN not in state.reported.get(f.id, ()))
            state = self._report(state, work.findings)
            if state != before:  # a round that changed nothing writes nothing
                self.state_dir.save(state)
        seconds = (self._clock() - start).total_seconds()
        return Round(
            tuple(work.findings),
            new,
            None if held is None else held.size,
            advanced,
            seconds,
        )

    def _keys_followed(self) -> _Keys:
        """The log keys of a round: the pinned ones, and the keys the log rotated to from one
        of them, when it serves its list of keys and every rotation after the pinned key
        verifies (:func:`~sentinelle.monitor.checks.follow_keys`)."""
        cfg = self.config
        try:
            history = self.source.key_history()
        except LogUnreachableError as exc:
            # The round's own reads report an unreachable log; the slice check, which needs
            # the list for an answer across a rotation, reports this.
            pinned = follow_keys(None, origin=cfg.origin, pinned=cfg.log_keys)
            return _Keys(cfg.log_keys, pinned, exc)
        followed = follow_keys(history, origin=cfg.origin, pinned=cfg.log_keys)
        if len(followed.keys) == len(cfg.log_keys):
            return _Keys(cfg.log_keys, followed)
        _logger.info(
            "following the log's key rotation to %s",
            ", ".join(followed.keys[len(cfg.log_keys) :]),
        )
        verifiers = tuple(Verifier.from_verifier_key(k) for k in followed.keys)
        return _Keys(verifiers, followed)

    def _check(self, work: _Round, held: SignedCheckpoint | None) -> SignedCheckpoint | None:
        """The checks of one round; the checkpoint to move the state to, if all pass."""
        cfg, source = self.config, self.source
        # The witnessed checkpoint first: the newest, read after it, is then at least as new on
        # an honest log that grows (ingest, `ledger witness`) between the two reads.
        witnessed_note = source.witnessed() if cfg.quorum else None
        latest_note = source.latest()
        if latest_note is None:
            if held is not None:
                work.find(
                    Outcome.SMALLER_TREE,
                    f"{source.where} serves no checkpoint at all, but the log signed one of "
                    f"size {held.size} before (held): its checkpoints were deleted",
                    held=held,
                )
            else:
                raise LogUnreachableError(f"{source.where} has no checkpoint yet")
            return None
        latest = work.open(latest_note, "the newest checkpoint")
        if latest is None:
            return None
        candidate: SignedCheckpoint | None = None
        compared: set[verify.SignedCheckpoint] = set()  # each tree head is checked once
        if cfg.quorum == 0:  # no witnesses pinned: the log's signature alone
            compared.add(latest.checkpoint)
            if work.compare(held, latest, "the newest checkpoint"):
                candidate = latest
        else:
            if witnessed_note is None:
                work.find(
                    Outcome.COSIGNATURES,
                    f"{source.where} has no checkpoint cosigned by witnesses (quorum "
                    f"{cfg.quorum}): run `sentinelle ledger witness` on the log, or find out "
                    "why the witnesses refuse",
                    key="none",
                )
            else:
                witnessed = work.open(witnessed_note, "the newest witnessed checkpoint")
                if witnessed is not None:
                    compared.add(witnessed.checkpoint)
                    extends = work.compare(held, witnessed, "the newest witnessed checkpoint")
                    if work.cosigned(witnessed) and extends:
                        candidate = witnessed
        # The newest checkpoint, witnessed or not, must extend what is trusted so far: the log's
        # own signature is enough to prove a split view or a rewrite.
        base = candidate or held
        if (
            base is not None
            and latest.checkpoint != base.checkpoint
            and latest.checkpoint not in compared
        ):
            work.compare(base, latest, "the newest checkpoint")
        if (
            candidate is not None
            and (held is None or candidate.size > held.size)
            and not work.findings
            and self.slice_check is not None
        ):
            if work.keys.unreachable is not None:
                raise work.keys.unreachable
            try:
                self.slice_check(held, candidate, work.keys.followed.keys)
            except MissingAccessError as exc:
                work.find(
                    Outcome.MISSING_ACCESS,
                    str(exc),
                    held=held,
                    served=candidate,
                    extra={"slice-answer.json": pages_json(exc.pages)},
                )
        return candidate

    def _remember(
        self,
        state: MonitorState,
        findings: Sequence[Finding],
        held: SignedCheckpoint | None,
        advanced: bool,
    ) -> MonitorState:
        reported = dict(state.reported)
        if not findings:  # transient findings that passed may be reported again if back
            for ident in list(reported):
                if ident.split("-", 1)[0] in {o.label for o in _TRANSIENT}:
                    del reported[ident]
        verified_at = self._clock().isoformat() if advanced else state.verified_at
        return MonitorState(
            origin=state.origin, checkpoint=held, verified_at=verified_at, reported=reported
        )

    def _report(self, state: MonitorState, findings: Sequence[Finding]) -> MonitorState:
        reported = dict(state.reported)
        for finding in findings:
            done = set(reported.get(finding.id, ()))
            done.add(SEEN)
            for reporter in self.reporters:
                if reporter.channel in done:
                    continue
                try:
                    reporter.send(finding)
                except ReportError as exc:
                    _logger.warning(
                        "could not report %s by %s: %s", finding.id, reporter.channel, exc
                    )
                    continue
                done.add(reporter.channel)
            reported[finding.id] = frozenset(done)
        return MonitorState(
            origin=state.origin,
            checkpoint=state.checkpoint,
            verified_at=state.verified_at,
            reported=reported,
        )
