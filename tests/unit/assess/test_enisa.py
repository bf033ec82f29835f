"""ENISA 2013 severity: SE = DPC × EI + CB, table-driven."""

from __future__ import annotations

from typing import Any

import pytest

from sentinelle.assess.enisa import Level, level_for, severity
from sentinelle.assess.facts import parse_facts

AWARE = "2026-02-02T09:00:00Z"


def facts(**extra: Any) -> dict[str, Any]:
    """Accidental, identifiable, integrity-only facts: CB 0, EI 1, so SE = DPC."""
    base: dict[str, Any] = {
        "aware_at": AWARE,
        "breach_types": ["integrity"],
        "integrity": "intact",
        "data_categories": ["contact"],
        "identifiability": "maximum",
        "cause": {"intent": "accidental"},
    }
    base.update(extra)
    return base


@pytest.mark.parametrize(
    ("score", "level"),
    [
        (0.25, Level.LOW),
        (1.99, Level.LOW),
        (2.0, Level.MEDIUM),
        (2.99, Level.MEDIUM),
        (3.0, Level.HIGH),
        (3.99, Level.HIGH),
        (4.0, Level.VERY_HIGH),
        (6.0, Level.VERY_HIGH),
    ],
)
def test_band_boundaries(score: float, level: Level) -> None:
    assert level_for(score) is level


@pytest.mark.parametrize(
    ("categories", "extra", "dpc"),
    [
        # base scores (ENISA: simple 1, behavioural 2, financial 3, sensitive 4)
        (["contact"], {}, 1),
        (["address", "order_details"], {}, 1),
        (["behavioral"], {}, 2),
        (["location"], {}, 2),
        (["financial"], {}, 3),
        (["payment_full"], {}, 3),
        (["identity_document"], {}, 3),
        (["special"], {}, 4),
        # several categories: the highest
        (["contact", "location", "financial"], {}, 3),
        # decreasing factor "nature of the data": truncated card data
        (["payment_partial"], {}, 2),
        # credentials: by what they give access to
        (["credentials"], {"credentials_for": "low_value"}, 1),
        (["credentials"], {"credentials_for": "financial"}, 3),
        (["credentials"], {"credentials_for": "sensitive"}, 4),
        # +1 special characteristics of the individuals
        (["contact"], {"subjects": {"vulnerable": True}}, 2),
        (["contact"], {"subjects": {"public_figures": True}}, 2),
        (["children", "contact"], {}, 2),
        # +1 special characteristics of the controller
        (["contact"], {"controller": {"sector": "Pharmacy"}}, 2),
        (["contact"], {"controller": {"sector": "retail"}}, 1),
        # -1 publicly available before the breach
        (["behavioral"], {"data_public_before": True}, 1),
        # both increases, then kept within 1-4
        (["contact"], {"subjects": {"vulnerable": True}, "controller": {"sector": "health"}}, 3),
        (["special"], {"subjects": {"vulnerable": True}, "controller": {"sector": "health"}}, 4),
        (["contact"], {"data_public_before": True}, 1),
    ],
)
def test_dpc(categories: list[str], extra: dict[str, Any], dpc: int) -> None:
    result = severity(parse_facts(facts(data_categories=categories, **extra)))
    assert result.dpc == dpc
    assert result.score == dpc  # EI 1, CB 0


def test_dpc_clamping_is_explained() -> None:
    f = facts(data_categories=["special"], subjects={"vulnerable": True})
    assert any(
        "kept within ENISA's range 1-4" in line for line in severity(parse_facts(f)).explanation
    )


@pytest.mark.parametrize(
    ("identifiability", "ei"),
    [("negligible", 0.25), ("limited", 0.5), ("significant", 0.75), ("maximum", 1.0)],
)
def test_ei(identifiability: str, ei: float) -> None:
    result = severity(
        parse_facts(facts(data_categories=["special"], identifiability=identifiability))
    )
    assert result.ei == ei
    assert result.score == 4 * ei


@pytest.mark.parametrize(
    ("extra", "cb"),
    [
        # confidentiality
        ({"breach_types": ["confidentiality"], "recipients": "none"}, 0.0),
        ({"breach_types": ["confidentiality"], "exfiltration": "ruled_out"}, 0.0),
        ({"breach_types": ["confidentiality"], "recipients": "trusted"}, 0.0),
        (
            {"breach_types": ["confidentiality"], "recipients": "trusted", "data_recovered": False},
            0.25,
        ),
        ({"breach_types": ["confidentiality"], "recipients": "known"}, 0.25),
        ({"breach_types": ["confidentiality"], "recipients": "unknown"}, 0.5),
        ({"breach_types": ["confidentiality"], "recipients": "public"}, 0.5),
        # integrity
        ({"integrity": "altered_recoverable"}, 0.25),
        ({"integrity": "altered_not_recoverable"}, 0.5),
        # availability
        (
            {
                "breach_types": ["availability"],
                "availability": {"backup": True, "restored_within_hours": 4},
            },
            0.0,
        ),
        ({"breach_types": ["availability"], "availability": {"backup": True}}, 0.25),
        (
            {
                "breach_types": ["availability"],
                "availability": {
                    "backup": True,
                    "restored_within_hours": 48,
                    "impact_on_subjects": "significant",
                },
            },
            0.25,
        ),
        ({"breach_types": ["availability"], "availability": {"permanent_loss": True}}, 0.5),
        # malicious intent
        ({"cause": {"intent": "malicious"}}, 0.5),
        # everything at once: the theoretical maximum
        (
            {
                "breach_types": ["confidentiality", "integrity", "availability"],
                "recipients": "public",
                "integrity": "altered_not_recoverable",
                "availability": {"permanent_loss": True},
                "cause": {"intent": "malicious"},
            },
            2.0,
        ),
    ],
)
def test_cb(extra: dict[str, Any], cb: float) -> None:
    result = severity(parse_facts(facts(**extra)))
    assert result.cb == cb
    assert result.score == 1 + cb


@pytest.mark.parametrize(
    ("extra", "field", "cb"),
    [
        ({"cause": {}}, "$.cause.intent", 0.5),
        ({"cause": {"intent": "unknown"}}, "$.cause.intent", 0.5),
        ({"breach_types": ["confidentiality"]}, "$.recipients", 0.5),
        ({"breach_types": ["availability"]}, "$.availability.permanent_loss", 0.5),
        ({"breach_types": ["integrity"], "integrity": None}, "$.integrity", 0.5),
    ],
)
def test_missing_facts_assume_the_worst(extra: dict[str, Any], field: str, cb: float) -> None:
    f = facts(**extra)
    f = {k: v for k, v in f.items() if v is not None}  # None: leave the fact out
    result = severity(parse_facts(f))
    assert field in [a.field for a in result.assumptions]
    assert result.cb == cb


def test_missing_identifiability_and_credentials_target() -> None:
    f = facts(data_categories=["credentials"])
    del f["identifiability"]
    result = severity(parse_facts(f))
    assert {a.field for a in result.assumptions} == {"$.credentials_for", "$.identifiability"}
    assert (result.dpc, result.ei) == (4, 1.0)


def test_explanation_and_dict() -> None:
    result = severity(
        parse_facts(facts(data_categories=["financial"], cause={"intent": "malicious"}))
    )
    assert result.to_dict() == {
        "dpc": 3,
        "ei": 1.0,
        "cb": 0.5,
        "score": 3.5,
        "level": "high",
        "explanation": list(result.explanation),
    }
    assert result.explanation[0] == "ENISA severity SE = DPC × EI + CB = 3 × 1 + 0.5 = 3.5: high."
    assert "CB +0.5: malicious intent." in result.explanation
