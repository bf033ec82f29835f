"""The detection engine: one pass over events in time order, alerts out.

The engine owns the :class:`~sentinelle.detect.context.Context` and the open alerts. Each
access event is recorded in the context, shown to every enabled detector, and their findings
are merged into alerts: one alert per actor and detector while findings keep coming within the
dedupe window, its severity and score the highest seen, its reasons the latest numbers.
Alert ids derive from the detector, the actor and the triggering event, so replaying the same
history yields the same alerts (``sentinelle detect`` is idempotent).
"""

from __future__ import annotations

import hashlib
import tomllib
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

import msgspec
from msgspec import UNSET
from pydantic import BaseModel, ConfigDict, Field
from pydantic import ValidationError as PydanticValidationError

from sentinelle.config import Settings
from sentinelle.detect.base import Alert, Detector, DetectorConfig, Finding
from sentinelle.detect.context import READ_ACTIONS, Context, is_bulk
from sentinelle.detect.detectors import (
    BreadthVolume,
    Collusion,
    ExportAfterNotice,
    FakeTickets,
    RepeatedLooks,
    UnjustifiedAccess,
    UnusualContext,
)
from sentinelle.detect.timeutil import DAY, HOUR
from sentinelle.errors import ConfigError
from sentinelle.events import AccessEvent, ContextEvent, Event, time_us

__all__ = ["DETECTORS", "DetectConfig", "Engine", "EngineState"]

DETECTORS: Final[dict[str, type[Detector]]] = {
    d.name: d
    for d in (
        UnjustifiedAccess,
        BreadthVolume,
        ExportAfterNotice,
        UnusualContext,
        Collusion,
        FakeTickets,
        RepeatedLooks,
    )
}
_MAX_EVENTS: Final = 200
_MAX_MERCHANTS: Final = 1000


class DetectConfig(BaseModel):
    """The ``[detect]`` settings: dedupe window and each detector's thresholds."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    dedupe_hours: float = Field(24.0, gt=0, description="Findings this close merge into one alert.")
    detectors: dict[str, dict[str, Any]] = Field(default_factory=dict)

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


_state_encoder: Final = msgspec.msgpack.Encoder()
_state_decoder: Final = msgspec.msgpack.Decoder(EngineState)


class Engine:
    """Runs the detectors over events in time order."""

    def __init__(
        self, config: DetectConfig | None = None, state: EngineState | None = None
    ) -> None:
        self.config = config or DetectConfig()
        self.detectors = self.config.build()
        self.state = state or EngineState()
        self._dedupe_us = int(self.config.dedupe_hours * HOUR)

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

    def process(self, event: Event, *, emit: bool = True) -> list[Alert]:
        """Process one event; the alerts it created or changed."""
        t = time_us(event)
        st = self.state
        ctx = st.context
        if t > ctx.now_us:
            ctx.now_us = t
        day = t // DAY
        if day != st.pruned_day:
            st.pruned_day = day
            ctx.prune(t)
            horizon = t - self._dedupe_us
            st.open_alerts = {k: a for k, a in st.open_alerts.items() if a.time_us >= horizon}
        if isinstance(event, ContextEvent):
            ctx.apply_context(event, t)
            found: list[Finding] = []
            for detector in self.detectors:
                found += detector.observe_context(event, ctx)
            return [self._merge(f) for f in found] if emit else []
        return self._access(event, t, emit)

    def _access(self, event: AccessEvent, t: int, emit: bool) -> list[Alert]:
        ctx = self.state.context
        actor = event.actor
        state = ctx.actor(actor.id)
        state.kind = actor.kind
        if isinstance(actor.team, str):
            state.team = actor.team
        if isinstance(actor.role, str):
            state.role = actor.role
        if event.outcome != "allowed" or event.action not in READ_ACTIONS:
            ctx.learn_habits(state, event, t)
            return []
        justified = ctx.justified(event, t)
        ctx.record_access(state, event, t, justified)
        if not justified and actor.kind == "staff" and event.merchant in state.n7:
            ctx.unjustified_by.setdefault(event.merchant, {})[actor.id] = t
        if is_bulk(event) and event.justification is not UNSET:
            ticket_id = event.justification.ticket
            ticket = ctx.tickets.get(ticket_id) if isinstance(ticket_id, str) else None
            if ticket is not None and len(ticket.bulk_events) < 50:
                ticket.bulk_events.append(event.id)
        findings: list[Finding] = []
        for detector in self.detectors:
            findings += detector.observe(event, ctx, state, justified)
        ctx.learn_habits(state, event, t)
        if not emit or not findings:
            return []
        return [self._merge(f) for f in findings]

    def _merge(self, finding: Finding) -> Alert:
        key = f"{finding.actor}|{finding.detector}"
        alert = self.state.open_alerts.get(key)
        # An alert covers one window from its trigger: a campaign that goes on for weeks raises
        # a fresh alert each window, so it is neither hidden in an old alert nor repeated.
        if alert is None or finding.time_us - alert.time_us > self._dedupe_us:
            digest = hashlib.sha256(
                f"{finding.detector}|{finding.actor}|{finding.events[0]}".encode()
            )
            alert = Alert(
                id="al-" + digest.hexdigest()[:16],
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
