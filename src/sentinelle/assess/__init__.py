"""Breach assessment: incident facts in, severity and notification decision out.

Start with :func:`evaluate` (typed :class:`Assessment` out) or :func:`assess` (its JSON
form). It validates the facts (:mod:`.facts`, per
``incident-facts.schema.json``), scores them with the ENISA 2013 method (:mod:`.enisa`)
and applies a jurisdiction's rules (:mod:`.gdpr` for EU GDPR Art. 33/34). Jurisdictions are
modules registered in :data:`JURISDICTIONS` (name → class). Everything here is pure: no
clock is read unless ``now`` is left out, and nothing is stored.
"""

from __future__ import annotations

import datetime as dt
from typing import Any, Final

import msgspec

from sentinelle.assess.base import (
    Assumption,
    AuthorityDuty,
    Decision,
    Jurisdiction,
    SubjectsDuty,
)
from sentinelle.assess.enisa import Level, SeverityResult, severity
from sentinelle.assess.facts import Facts, facts_to_dict, parse_facts
from sentinelle.assess.gdpr import GdprEU
from sentinelle.assess.model import (
    Assessment,
    AssumptionRecord,
    AuthorityDutyRecord,
    SeverityRecord,
    SubjectsDutyRecord,
)
from sentinelle.assess.schema import FACTS_SCHEMA, facts_schema
from sentinelle.errors import ConfigError

__all__ = [
    "FACTS_SCHEMA",
    "JURISDICTIONS",
    "Assessment",
    "Assumption",
    "AssumptionRecord",
    "AuthorityDuty",
    "AuthorityDutyRecord",
    "Decision",
    "Facts",
    "GdprEU",
    "Jurisdiction",
    "Level",
    "SeverityRecord",
    "SeverityResult",
    "SubjectsDuty",
    "SubjectsDutyRecord",
    "assess",
    "evaluate",
    "facts_schema",
    "facts_to_dict",
    "parse_facts",
    "severity",
]

JURISDICTIONS: Final[dict[str, type[Jurisdiction]]] = {GdprEU.name: GdprEU}


def evaluate(
    facts: Facts | dict[str, Any] | bytes | str,
    *,
    now: dt.datetime | None = None,
    jurisdiction: str = "EU",
) -> Assessment:
    """Assess one breach: the typed form of :func:`assess`, as incidents record it.

    Raises as :func:`assess` does.
    """
    return Assessment.from_dict(assess(facts, now=now, jurisdiction=jurisdiction))


def assess(
    facts: Facts | dict[str, Any] | bytes | str,
    *,
    now: dt.datetime | None = None,
    jurisdiction: str = "EU",
) -> dict[str, Any]:
    """Assess one breach and return the decision as a JSON-ready dict.

    ``now`` (timezone-aware) decides whether an unmade notification is late; it defaults to
    the current time. Each assumption made for a missing fact lists the answers that would
    change either duty, found by assessing again with each answer.

    Raises :class:`~sentinelle.errors.ValidationError` naming the JSON path of invalid
    facts, and :class:`~sentinelle.errors.ConfigError` for an unknown jurisdiction or a
    naive ``now``.
    """
    parsed = parse_facts(facts)
    if now is None:
        now = dt.datetime.now(dt.UTC)
    elif now.tzinfo is None:
        raise ConfigError("now must carry a UTC offset")
    try:
        rules = JURISDICTIONS[jurisdiction]()
    except KeyError:
        known = ", ".join(sorted(JURISDICTIONS))
        raise ConfigError(f"unknown jurisdiction {jurisdiction!r}; known: {known}") from None
    sev, decision = _decide(parsed, rules, now)
    assumptions = [_with_effects(a, parsed, rules, now, decision) for a in decision.assumptions]
    assumptions += _jurisdiction_notes(parsed, jurisdiction)
    return {
        "jurisdiction": decision.jurisdiction,
        "severity": sev.to_dict(),
        "notify_authority": decision.notify_authority.to_dict(),
        "notify_subjects": decision.notify_subjects.to_dict(),
        "document": decision.document,
        "assumptions": [a.to_dict() for a in assumptions],
    }


def _decide(facts: Facts, rules: Jurisdiction, now: dt.datetime) -> tuple[SeverityResult, Decision]:
    sev = severity(facts)
    decision = rules.decide(facts, sev, now=now)
    seen: set[str] = set()
    unique = []
    for a in decision.assumptions:  # severity and rules may both assume the same fact
        if a.field not in seen:
            seen.add(a.field)
            unique.append(a)
    return sev, Decision(
        jurisdiction=decision.jurisdiction,
        notify_authority=decision.notify_authority,
        notify_subjects=decision.notify_subjects,
        document=decision.document,
        assumptions=unique,
    )


def _with_effects(
    assumption: Assumption, facts: Facts, rules: Jurisdiction, now: dt.datetime, base: Decision
) -> Assumption:
    """Fill in ``would_change``: which answers to the missing fact change a duty."""
    effects = []
    for answer in assumption.alternatives:
        data = facts_to_dict(facts)
        _set(data, assumption.field, answer)
        try:
            other = _decide(msgspec.convert(data, Facts), rules, now)[1]
        except msgspec.ValidationError:  # pragma: no cover - alternatives are schema values
            continue
        changes = _differences(base, other)
        if changes:
            effects.append(f"{_json(answer)}: {' and '.join(changes)}.")
    return Assumption(
        field=assumption.field,
        assumed=assumption.assumed,
        statement=assumption.statement
        + (
            " Answers that would change the decision: " + " ".join(effects)
            if effects
            else " No other answer would change the decision."
            if assumption.alternatives
            else ""
        ),
        alternatives=assumption.alternatives,
        would_change=tuple(effects),
    )


def _differences(base: Decision, other: Decision) -> list[str]:
    changes = []
    if other.notify_authority.required != base.notify_authority.required:
        verb = "would" if other.notify_authority.required else "would not"
        changes.append(f"the authority {verb} have to be notified")
    a, b = base.notify_subjects, other.notify_subjects
    if (a.required, a.public_communication) != (b.required, b.public_communication):
        if b.required:
            changes.append("the people concerned would have to be told individually")
        elif b.public_communication:
            changes.append(
                "a public communication would replace telling each person (Art. 34(3)(c))"
            )
        else:
            changes.append("the people concerned would not have to be told")
    elif a.exemption != b.exemption:
        changes.append(f"the Art. 34(3) ground recorded would be {b.exemption or 'none'}")
    return changes


def _jurisdiction_notes(facts: Facts, assessed: str) -> list[Assumption]:
    named = facts.jurisdictions if facts.jurisdictions is not msgspec.UNSET else []
    if not named:
        return [
            Assumption(
                field="$.jurisdictions",
                assumed=[assessed],
                statement=(
                    f"No jurisdiction was given; the breach was assessed under {assessed} rules."
                ),
            )
        ]
    # "EU-FR" is EU law applied by the French authority (the CNIL).
    others = sorted({j for j in named if j.split("-")[0] != assessed})
    if not others:
        return []
    return [
        Assumption(
            field="$.jurisdictions",
            assumed=[assessed],
            statement=f"Only {assessed} rules were applied; {', '.join(others)} "
            "must be assessed separately.",
        )
    ]


def _set(data: dict[str, Any], path: str, value: Any) -> None:
    keys = path.removeprefix("$.").split(".")
    for key in keys[:-1]:
        data = data.setdefault(key, {})
    data[keys[-1]] = value


def _json(value: Any) -> str:
    return msgspec.json.encode(value).decode()
