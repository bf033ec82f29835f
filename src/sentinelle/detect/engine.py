"""The detection engine: one pass over events in time order, alerts out.

The engine owns the :class:`~sentinelle.detect.context.Context` and the open alerts. Each
access event is recorded in the context, shown to every enabled detector, and their findings
are merged into alerts: one alert per actor and detector while findings keep coming within the
dedupe window, its severity and score the highest seen, its reasons the latest numbers.
Alert ids derive from the detector, the actor and the triggering event, so replaying the same
history yields the same alerts (``sentinelle detect`` is idempotent).

Live, events come in the order they were stored, which is not their time order (parallel
senders, retries, offline laptops, backfills). :meth:`Engine.feed` holds them in a reorder
buffer (saved with the state) and processes them in time order once the watermark, the
later of the newest event time and the wall clock, less ``reorder_minutes``, has passed them.
An event older than what was already processed is *late*: a context event is applied as
usual (tickets, grants and staff changes do not depend on order); a late access event is
processed as if it happened at the engine's current time when it is at most ``late_hours``
late, and left to ``sentinelle detect`` over history when later than that. Either way the
rolling windows stay in time order, which the detectors rely on.

Findings a triage suppression covers (the same actor and detector, within the period a
dismissal set: :mod:`sentinelle.detect.triage`) are dropped: they neither create nor raise an
alert.

A detector that raises is logged (its name, the exception type and where: never the event)
and skips that event; the other detectors and the engine go on.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import logging
import tomllib
import traceback
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

import msgspec
from msgspec import UNSET
from pydantic import BaseModel, ConfigDict, Field
from pydantic import ValidationError as PydanticValidationError

from sentinelle.config import Settings
from sentinelle.detect.base import Alert, Detector, DetectorConfig, Finding, Severity
from sentinelle.detect.context import (
    ALERTED,
    CASE_CUSTOMERS,
    EXPORT_ACTIONS,
    EXPORTED,
    READ_ACTIONS,
    UNKNOWN_LISTED,
    Context,
    is_bulk,
    listed,
    mark,
    mark_daily,
)
from sentinelle.detect.detectors import (
    BreadthVolume,
    Collusion,
    ExportAfterNotice,
    FakeTickets,
    LongHorizon,
    OtherCase,
    RepeatedLooks,
    UnjustifiedAccess,
    UnusualContext,
    declared,
)
from sentinelle.detect.evidence import EvidenceConfig, Item, explain, grade, record, risk
from sentinelle.detect.evidence import Ledger as EvidenceLedger
from sentinelle.detect.guard_signals import BreakGlass, Probing
from sentinelle.detect.integrations import INTEGRATION_DETECTORS
from sentinelle.detect.triage import Suppressions
from sentinelle.errors import ConfigError
from sentinelle.events import AccessEvent, ContextEvent, Event, decode_event, time_us
from sentinelle.timeutil import DAY, HOUR, MINUTE, from_us, iso

__all__ = [
    "DETECTORS",
    "MAX_PENDING",
    "DetectConfig",
    "Engine",
    "EngineState",
    "decode_stored",
    "where",
]

_logger = logging.getLogger(__name__)

DETECTORS: Final[dict[str, type[Detector]]] = {
    d.name: d
    for d in (
        UnjustifiedAccess,
        BreadthVolume,
        ExportAfterNotice,
        UnusualContext,
        Collusion,
        FakeTickets,
        OtherCase,
        RepeatedLooks,
        LongHorizon,
        BreakGlass,
        Probing,
    )
} | {d.name: d for d in INTEGRATION_DETECTORS}
# Detector → the signal it reads, for detectors that share one (evidence counts it once a
# day). Of every built-in, enabled or not: saved evidence may hold a since-disabled one's.
_FAMILIES: Final = {name: cls.family for name, cls in DETECTORS.items() if cls.family}
_MAX_EVENTS: Final = 200
_MAX_MERCHANTS: Final = 1000
MAX_PENDING: Final = 100_000
"""The reorder buffer's size limit: beyond it the oldest held events are processed early."""
_UTC: Final = dt.UTC
_FUTURE: Final = DAY  # events dated further ahead of the wall clock do not move the watermark


_access_decoder: Final = msgspec.json.Decoder(AccessEvent)
_context_decoder: Final = msgspec.json.Decoder(ContextEvent)


def decode_stored(body: str | bytes) -> Event:
    """A stored event body, as :func:`~sentinelle.events.decode_event` decodes it.

    Stored bodies are the canonical JSON of events validated and normalised when they were
    ingested: decoding them against their schema gives the same event without ingest's
    checks (repeated keys, NUL characters, canonical re-encoding), which were a third of
    live detection's decoding. Any body that does not decode so, or whose times are not in
    UTC, goes through :func:`~sentinelle.events.decode_event`, with its checks and errors.
    """
    try:
        if ('"action"' in body) if isinstance(body, str) else (b'"action"' in body):
            event: Event = _access_decoder.decode(body)
            if event.time.tzinfo is _UTC:
                return event
        else:
            event = _context_decoder.decode(body)
            if event.time.tzinfo is _UTC and (
                event.expires is UNSET or event.expires.tzinfo is _UTC
            ):
                return event
    except msgspec.MsgspecError:
        pass
    return decode_event(body)


class DetectConfig(BaseModel):
    """The ``[detect]`` settings: dedupe window and each detector's thresholds."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    dedupe_hours: float = Field(24.0, gt=0, description="Findings this close merge into one alert.")
    reorder_minutes: float = Field(
        5.0, ge=0, description="Live: hold events this long to process them in time order."
    )
    late_hours: float = Field(
        24.0, ge=0, description="Live: later events are left to `sentinelle detect`."
    )
    detectors: dict[str, dict[str, Any]] = Field(default_factory=dict)
    evidence: EvidenceConfig = Field(default_factory=EvidenceConfig)
    high_profile: list[str] = Field(
        default_factory=list, description="Customers the platform flags as sensitive (VIPs)."
    )

    @classmethod
    def from_settings(cls, settings: Settings) -> DetectConfig:
        """The file ``SENTINELLE_DETECT_CONFIG`` names, or the built-in defaults."""
        path = settings.detect_config
        return cls.from_toml(path) if path else cls()

    @classmethod
    def from_toml(cls, path: Path) -> DetectConfig:
        """Read a TOML file (top level or a ``[detect]`` table). Raises :class:`ConfigError`."""
        try:
            data = tomllib.loads(path.read_text(encoding="utf-8"))
        except OSError as exc:  # strerror: the path is said once, as ``ingest`` says it
            raise ConfigError(
                f"cannot read detection config {path}: {exc.strerror or exc}"
            ) from None
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"cannot read detection config {path}: {exc}") from None
        data = data.get("detect", data)
        try:
            config = cls.model_validate(data)
            config.build()
        except PydanticValidationError as exc:
            raise ConfigError(f"invalid detection config {path}: {_problems(exc)}") from None
        except ConfigError as exc:
            raise ConfigError(f"invalid detection config {path}: {exc}") from None
        return config

    def build(self) -> list[Detector]:
        """The enabled detectors with their thresholds.

        Raises :class:`ConfigError` on unknown detectors, or on unknown or invalid fields
        (named by their path, such as ``detectors.collusion.min_shared``).
        """
        unknown = set(self.detectors) - set(DETECTORS)
        if unknown:
            raise ConfigError(
                f"unknown detector(s) {', '.join(sorted(unknown))}; known: {', '.join(DETECTORS)}"
            )
        built = []
        for name, cls in DETECTORS.items():
            try:
                config: DetectorConfig = cls.Config.model_validate(self.detectors.get(name, {}))
            except PydanticValidationError as exc:
                raise ConfigError(_problems(exc, prefix=("detectors", name))) from None
            if config.enabled:
                built.append(cls(config))
        return built


def _problems(exc: PydanticValidationError, prefix: tuple[str, ...] = ()) -> str:
    return "; ".join(
        f"{'.'.join(str(p) for p in (*prefix, *e['loc']))}: {e['msg']}" for e in exc.errors()
    )


@dataclass(slots=True)
class EngineState:
    """Everything the engine carries between batches (saved by the runner)."""

    context: Context = field(default_factory=Context)
    open_alerts: dict[str, Alert] = field(default_factory=dict)  # "actor|detector" → alert
    pruned_day: int = -1
    # Live detection's reorder buffer: (time, leaf index, stored body) of held events.
    pending: list[tuple[int, int, str]] = field(default_factory=list)
    newest_us: int = 0  # the newest event time seen (not beyond the wall clock + a day)
    failures: int = 0  # live runs in a row that failed (the runner resets after a few)
    # actor → (time, detector, points, reason) of their recent findings (see evidence.py)
    evidence: EvidenceLedger = field(default_factory=dict)
    # "actor|signal" → (time, severity, detector, alert id) of the finding that last raised a
    # medium or higher alert on that signal (evidence.py: one case, one alert)
    alerted: dict[str, tuple[int, int, str, str]] = field(default_factory=dict)


_state_encoder: Final = msgspec.msgpack.Encoder()
_state_decoder: Final = msgspec.msgpack.Decoder(EngineState)


class Engine:
    """Runs the detectors over events in time order."""

    def __init__(
        self,
        config: DetectConfig | None = None,
        state: EngineState | None = None,
        *,
        suppressions: Suppressions | None = None,
        high_profile: Iterable[str] = (),
    ) -> None:
        self.config = config or DetectConfig()
        self.detectors = self.config.build()
        sensitive = frozenset(self.config.high_profile) | frozenset(high_profile)
        for detector in self.detectors:
            detector.high_profile = sensitive
        # Built from the detectors in place (tests swap them), again when they change
        # (_derive): per hook, the detectors that define it (the default finds nothing; for
        # ``observe``, per actor kind, those judging it), bound at first use; the graded
        # detectors' evidence weights; and the signals, with the running detectors' own.
        self._derived_of: list[Detector] | None = None
        self._hooks: dict[str, list[tuple[Detector, Callable[..., list[Finding]]]]] = {}
        self._graded: dict[str, float] = {}
        self._families: dict[str, str] = _FAMILIES
        self.state = state or EngineState()
        self.suppressions = suppressions or Suppressions()
        self.suppressed = 0  # findings dropped by a triage suppression (not saved)
        self._dedupe_us = int(self.config.dedupe_hours * HOUR)
        self._reorder_us = int(self.config.reorder_minutes * MINUTE)
        self._late_us = int(self.config.late_hours * HOUR)
        self.late_skipped = 0  # late access events left out by this engine (not saved)
        self.late_oldest_us: int | None = None
        self.late_floored = 0  # late access events processed at the engine's current time
        self.detector_errors: dict[str, int] = {}  # detector → events it failed on
        # accesses citing a ticket that could not be checked (no ticket event for
        # TICKET_FEED_DAYS: Context.feed_silent), mostly taken as stated (not saved)
        self.unchecked = 0
        # accesses citing a ticket while ticket events come, and of them those citing one no
        # ticket event named (Context.tally_citation; not saved: this run's)
        self.cited = 0
        self.unmatched = 0

    def dump_state(self) -> bytes:
        """The engine's state, for the next batch."""
        return _state_encoder.encode(self.state)

    @staticmethod
    def load_state(blob: bytes) -> EngineState:
        """Inverse of :meth:`dump_state`."""
        return _state_decoder.decode(blob)

    def run(self, events: Iterable[Event], *, emit_from_us: int | None = None) -> list[Alert]:
        """Process events in order; the alerts created or changed (once each, latest form).

        With ``emit_from_us``, earlier events only build baselines (no findings kept).
        """
        changed: dict[str, Alert] = {}
        for event in events:
            for alert in self.process(
                event, emit=emit_from_us is None or time_us(event) >= emit_from_us
            ):
                changed[alert.id] = alert
        return list(changed.values())

    def feed(
        self,
        rows: Iterable[tuple[int, str]],
        *,
        now_us: int,
        events: Sequence[Event] | None = None,
    ) -> list[Alert]:
        """Live detection: stored ``(leaf index, body)`` rows, in any time order.

        The rows join the reorder buffer; the buffered events the watermark has passed are
        processed in time order (then leaf order). ``now_us`` is the wall clock. ``events``:
        the rows' bodies already decoded (:func:`decode_stored`), one each. Returns the
        alerts created or changed.
        """
        st = self.state
        fresh: dict[int, Event] = {}
        horizon = now_us + _FUTURE
        pending = st.pending
        decoded = iter(events) if events is not None else None
        for seq, body in rows:
            event = decode_stored(body) if decoded is None else next(decoded)
            t = time_us(event)
            if st.newest_us < t <= horizon:
                st.newest_us = t
            pending.append((t, seq, body))
            fresh[seq] = event
        pending.sort()
        watermark = max(st.newest_us, now_us) - self._reorder_us
        ready = len(pending)
        while ready and pending[ready - 1][0] > watermark:
            ready -= 1
        ready = max(ready, len(pending) - MAX_PENDING)
        st.pending = pending[ready:]
        changed: dict[str, Alert] = {}
        process = self._process
        for t, seq, body in pending[:ready]:
            event = fresh.get(seq) or decode_stored(body)
            for alert in process(event, t, True):
                changed[alert.id] = alert
        return list(changed.values())

    def process(self, event: Event, *, emit: bool = True) -> list[Alert]:
        """Process one event; the alerts it created or changed.

        An access event earlier than the events already processed is processed at the
        engine's current time if at most ``late_hours`` late, else left out (counted in
        :attr:`late_skipped`): the actors' windows stay in time order.
        """
        return self._process(event, time_us(event), emit)

    def _process(self, event: Event, t: int, emit: bool) -> list[Alert]:
        """:meth:`process` of ``event`` at its time ``t`` (:func:`time_us`)."""
        st = self.state
        ctx = st.context
        if t > ctx.now_us:
            ctx.now_us = t
            if t > st.newest_us:  # the watermark never lags what was processed
                st.newest_us = t
        elif t < ctx.now_us and isinstance(event, AccessEvent):
            if ctx.now_us - t > self._late_us:
                self.late_skipped += 1
                if self.late_oldest_us is None or t < self.late_oldest_us:
                    self.late_oldest_us = t
                return []
            self.late_floored += 1
            sent, t = t, ctx.now_us
            event = msgspec.structs.replace(event, time=from_us(t))
            return self._access(event, t, emit, sent)
        day = t // DAY
        if day > st.pruned_day:
            st.pruned_day = day
            ctx.prune(t)
            horizon = t - self._dedupe_us
            st.open_alerts = {k: a for k, a in st.open_alerts.items() if a.time_us >= horizon}
            forget = t - int(self.config.evidence.horizon_days * DAY)
            st.evidence = {
                actor: recent
                for actor, items in st.evidence.items()
                if (recent := [i for i in items if i[0] >= forget])
            }
            kept = max(
                self.config.evidence.realert_days * DAY, self.config.evidence.burst_hours * HOUR
            )
            st.alerted = {k: v for k, v in st.alerted.items() if v[0] >= t - int(kept)}
        if isinstance(event, ContextEvent):
            ctx.apply_context(event, t)
            return self._alerts(self._ask("observe_context", event, ctx), emit)
        return self._access(event, t, emit)

    def _access(self, event: AccessEvent, t: int, emit: bool, sent: int = 0) -> list[Alert]:
        """An access at ``t``; ``sent``: its own time, when it came late and ``t`` is the
        engine's (:meth:`process`)."""
        ctx = self.state.context
        actor = event.actor
        state = ctx.actor(actor.id)
        state.kind = actor.kind
        if isinstance(actor.team, str):
            state.team = actor.team
        if isinstance(actor.role, str):
            state.role = actor.role
        if event.outcome != "allowed" or event.action not in READ_ACTIONS:
            refused: list[Finding] = []
            if event.outcome == "denied":  # a refused request (a guard denial): probing
                refused = self._ask("observe_denied", event, ctx, state)
            ctx.learn_habits(state, event, t)
            return self._alerts(refused, emit)
        justified = ctx.justified(event, t, stated=True) or (
            sent > 0 and ctx.late_look_up(event, sent)
        )
        ctx.record_access(state, event, t, justified)
        if not justified and actor.kind == "staff":
            if event.merchant in state.n7:
                ctx.unjustified_by.setdefault(event.merchant, {})[actor.id] = t
            if event.action in EXPORT_ACTIONS:  # a team's batch of exports (batch_export)
                reason = declared(event)
                if reason is not None:
                    ctx.exports_by.setdefault(reason, {})[actor.id] = t
                    mark_daily(state, EXPORTED, t, f"{reason}|{event.merchant}")
        ticket_id = event.cited_ticket()
        if ticket_id is not None:
            ticket = ctx.tickets.get(ticket_id)
            if ticket is not None:
                if t > ticket.used_us:
                    ticket.used_us = t  # in use: not forgotten while idle (Context.prune)
                if not is_bulk(event):
                    ticket.single = True  # someone's own case was worked under it
                    subjects = event.subjects
                    room = CASE_CUSTOMERS - len(ticket.customers)
                    if justified and subjects and room > 0:
                        ticket.customers.update(subjects[:room])
                else:
                    ticket.listed = min(UNKNOWN_LISTED, ticket.listed + listed(event))
                    if len(ticket.bulk_events) < 50:
                        ticket.bulk_events.append(event.id)
            if ctx.feed_silent(t):
                self.unchecked += ticket is None
            else:  # checked: known, or made up, or named otherwise than the help desk does
                self.cited += 1
                self.unmatched += ticket is None
                ctx.tally_citation(t, unknown=ticket is None)
        findings = self._ask("observe " + actor.kind, event, ctx, state, justified)
        ctx.learn_habits(state, event, t, justified)
        return self._alerts(findings, emit)

    def _ask(self, hook: str, *args: Any) -> list[Finding]:
        """Every detector's findings from its ``hook`` (``observe <actor kind>``: of those
        judging that kind, ``observe_context`` or ``observe_denied``); a detector that raises
        is logged and skips the event."""
        if self._derived_of is not self.detectors:
            self._derive()
        hooks = self._hooks.get(hook)
        if hooks is None:
            hooks = self._bind(hook)
        found: list[Finding] = []
        for detector, method in hooks:
            try:
                got = method(*args)
            except Exception as exc:
                self._detector_failed(detector, exc)
                continue
            if got:
                found += got
        return found

    def _derive(self) -> None:
        """What the engine keeps of its detectors, for the list it now has."""
        self._derived_of, self._hooks = self.detectors, {}
        self._graded = {d.name: d.weight for d in self.detectors if d.graded}
        self._families = _FAMILIES | {d.name: d.family for d in self.detectors if d.family}

    def _bind(self, hook: str) -> list[tuple[Detector, Callable[..., list[Finding]]]]:
        name, _, kind = hook.partition(" ")
        default = getattr(Detector, name)
        bound = []
        for detector in self.detectors:
            method = getattr(detector, name)
            if getattr(method, "__func__", None) is default:
                continue  # the base class's: never a finding
            if kind and not detector.judges(kind):
                continue
            bound.append((detector, method))
        self._hooks[hook] = bound
        return bound

    def _alerts(self, findings: list[Finding], emit: bool) -> list[Alert]:
        """The alerts ``findings`` create or change, once triage and evidence had them
        (graded findings add to the evidence even while ``emit`` is off: baselines)."""
        if not findings:
            return []
        kept = self._grade(self._kept(findings), emit)
        return [self._merge(f) for f in kept] if emit else []

    def _grade(self, findings: list[Finding], emit: bool = True) -> list[Finding]:
        """Graded detectors' findings with the severity their actor's evidence earns (low
        when it adds to the actor's recent alert on the same signal: :meth:`_realert`)."""
        cfg = self.config.evidence
        if not cfg.enabled or not findings:
            return findings
        ledger = self.state.evidence
        if self._derived_of is not self.detectors:
            self._derive()
        graded = [f for f in findings if f.detector in self._graded]
        if not graded:
            return findings
        for f in graded:
            record(ledger, f, self._graded[f.detector], cfg)
        out: list[Finding] = []
        judged: list[tuple[int, Severity, Severity, float, list[Item]]] = []
        actors = self.state.context.actors
        for f in findings:
            if f.detector not in self._graded:
                out.append(f)
                continue
            actor_state = actors.get(f.actor)
            shift = actor_state.shift if actor_state is not None else 0
            total, pieces = risk(
                ledger[f.actor], f.time_us, cfg, families=self._families, shift=shift
            )
            # A weak finding stays low, however risky the actor: it is counted as evidence,
            # but a risky actor's every small step does not become another medium alert.
            earned = grade(total, cfg)
            severity = earned if f.severity >= Severity.MEDIUM else Severity.LOW
            if f.severity >= Severity.MEDIUM and actor_state is not None:
                # Medium by itself, whatever the evidence made of it: what they do is no
                # team's usual (a pair's first day, each partner's alert still low, must not
                # make the other's harvest their small team's rate). Emitted or not.
                mark(actor_state, ALERTED, f.time_us, f.detector)
            judged.append((len(out), severity, earned, total, pieces))
            out.append(f)
        # The strongest findings first: of one event's, the one that raises the alert is the
        # strongest, and the others add to it (one burst, one case: _realert).
        judged.sort(key=lambda j: (-out[j[0]].severity, -out[j[0]].score))
        for i, severity, earned, total, pieces in judged:
            f = out[i]
            adds_to = None
            if severity >= Severity.MEDIUM and emit:
                adds_to = self._realert(f, severity)
            # What the evidence earns, and why this alert is graded otherwise when it is.
            verdict = (
                f"enough for {earned}, but a finding weak by itself stays low"
                if severity < earned and adds_to is None
                else f"enough for {earned}, added to the alert below"
                if adds_to is not None
                else f"so {severity}"
            )
            why = explain(f.actor, total, pieces, verdict, cfg)
            if adds_to is not None:
                severity = Severity.LOW
                why.insert(0, adds_to)
            out[i] = dataclasses.replace(f, severity=severity, reasons=(f.reasons[0], *why))
        return out

    def _realert(self, finding: Finding, severity: Severity) -> str | None:
        """Whether ``finding``, graded ``severity``, adds to its actor's recent alert on the
        same signal (what to say of it) or raises an alert (None; it is remembered)."""
        # Its detector's open alert about the actor, if the finding joins it (see _merge).
        joins = self.state.open_alerts.get(f"{finding.actor}|{finding.detector}")
        if joins is not None and not self._merges(finding, joins):
            joins = None
        if joins is not None and joins.severity >= severity:
            return None  # it merges into that alert, not raising it: the latest numbers show
        cfg = self.config.evidence
        days, hours = cfg.realert_days, cfg.burst_hours
        key = f"{finding.actor}|{self._families.get(finding.detector, finding.detector)}"
        alerted = self.state.alerted
        last = alerted.get(key)
        if last is not None and finding.time_us - last[0] < days * DAY and severity <= last[1]:
            return _adds_to(last, finding.actor, " on the same signal", f" or after {days:g} days")
        # Their latest alert on any signal (no detector or family is named "*").
        anyone = f"{finding.actor}|*"
        last = alerted.get(anyone)
        if last is not None and finding.time_us - last[0] < hours * HOUR and severity <= last[1]:
            alerted[key] = last  # this signal is now of that case too
            return _adds_to(
                last,
                finding.actor,
                f", raised {hours:g} h or less before on another signal: one burst, one case",
            )
        raised = joins.id if joins is not None else _new_alert_id(finding)  # the alert it raises
        alerted[key] = alerted[anyone] = (
            finding.time_us,
            int(severity),
            finding.detector,
            raised,
        )
        return None

    def _merges(self, finding: Finding, alert: Alert) -> bool:
        """Whether ``finding`` joins ``alert``, its detector's open alert about its actor (an
        alert covers one window from its trigger)."""
        return finding.time_us - alert.time_us <= self._dedupe_us

    def _kept(self, findings: list[Finding]) -> list[Finding]:
        """The findings no triage suppression covers."""
        if not self.suppressions:
            return findings
        kept = [f for f in findings if not self.suppressions.covers(f.actor, f.detector, f.time_us)]
        self.suppressed += len(findings) - len(kept)
        return kept

    def _detector_failed(self, detector: Detector, exc: Exception) -> None:
        # Logged once per detector and engine; never the event or the message (personal data).
        count = self.detector_errors.get(detector.name, 0)
        self.detector_errors[detector.name] = count + 1
        if not count:
            _logger.error(
                "detector %s failed (%s at %s); it skips such events, the others go on",
                detector.name,
                type(exc).__name__,
                where(exc),
            )

    def _merge(self, finding: Finding) -> Alert:
        key = f"{finding.actor}|{finding.detector}"
        alert = self.state.open_alerts.get(key)
        # An alert covers one window from its trigger: a campaign that goes on for weeks raises
        # a fresh alert each window, so it is neither hidden in an old alert nor repeated.
        if alert is None or not self._merges(finding, alert):
            alert = Alert(
                id=_new_alert_id(finding),
                actor=finding.actor,
                detector=finding.detector,
                time_us=finding.time_us,
                last_us=finding.time_us,
                severity=finding.severity,
                score=finding.score,
                merchants=list(finding.merchants[:_MAX_MERCHANTS]),
                events=list(finding.events),
                reasons=list(finding.reasons),
            )
            self.state.open_alerts[key] = alert
            return alert
        alert.last_us = finding.time_us
        if finding.severity >= alert.severity:
            alert.reasons = list(finding.reasons)
        alert.severity = max(alert.severity, finding.severity)
        alert.score = max(alert.score, finding.score)
        known = set(alert.merchants)
        alert.merchants += [m for m in finding.merchants if m not in known][
            : _MAX_MERCHANTS - len(alert.merchants)
        ]
        for event_id in finding.events:
            if len(alert.events) < _MAX_EVENTS and event_id not in alert.events:
                alert.events.append(event_id)
        return alert


def _adds_to(last: tuple[int, int, str, str], actor: str, how: str, until: str = "") -> str:
    """What a finding that adds to ``last`` (an alert raised about ``actor``: its time,
    grade, detector and id) says of it instead of raising a new alert."""
    at, grade_, detector, alert = last
    return (
        f"Not a new alert: this adds to {alert} ({detector}, {Severity(grade_)}, "
        f"{iso(at)[:16]}Z) about {actor}{how}; a new alert is raised if the evidence grows "
        f"beyond {Severity(grade_)}{until}."
    )


def _new_alert_id(finding: Finding) -> str:
    """The id of the alert ``finding`` opens: of its detector, actor and first event."""
    digest = hashlib.sha256(f"{finding.detector}|{finding.actor}|{finding.events[0]}".encode())
    return "al-" + digest.hexdigest()[:16]


def where(exc: BaseException) -> str:
    """``file:line in function`` where ``exc`` was raised: for logs, free of data values."""
    frames = traceback.extract_tb(exc.__traceback__)
    if not frames:
        return "unknown place"
    last = frames[-1]
    return f"{Path(last.filename).name}:{last.lineno} in {last.name}"
