"""GDPR Art. 33/34 decisions: the EDPB Guidelines 01/2021 examples, exemptions, deadlines,
assumptions for missing facts."""

from __future__ import annotations

import copy
import datetime as dt
import json
from pathlib import Path
from typing import Any

import pytest

from sentinelle.assess import JURISDICTIONS, assess
from sentinelle.errors import ConfigError

AWARE = "2026-02-02T09:00:00Z"
BEFORE_DEADLINE = dt.datetime(2026, 2, 3, 9, 0, tzinfo=dt.UTC)
DEADLINE = "2026-02-05T09:00:00Z"

_EXAMPLES = json.loads((Path(__file__).parent / "edpb-examples.json").read_text())["cases"]
SHIPPED = {case["id"]: case for case in _EXAMPLES}


def run(facts: dict[str, Any], now: dt.datetime = BEFORE_DEADLINE) -> dict[str, Any]:
    return assess(facts, now=now)


# -- the three examples shipped in edpb-examples.json -------------------------------------


@pytest.mark.parametrize("case", _EXAMPLES, ids=[c["id"] for c in _EXAMPLES])
def test_shipped_edpb_example(case: dict[str, Any]) -> None:
    result = run(case["facts"])
    assert result["notify_authority"]["required"] is case["expect"]["sa"]
    assert result["notify_subjects"]["required"] is case["expect"]["ds"]
    assert result["document"] is True


def test_case_01_severity_is_low_as_the_guidelines_say_minor() -> None:
    assert run(SHIPPED["CASE-01"]["facts"])["severity"]["level"] == "low"


def test_case_08_low_severity_is_not_the_decision() -> None:
    # ENISA says low, yet the EDPB says notify: severity is one input only.
    result = run(SHIPPED["CASE-08"]["facts"])
    assert result["severity"]["level"] == "low"
    assert result["notify_authority"]["required"] is True


# -- further EDPB 01/2021 examples, restated as facts by us --------------------------------

OWN_EXAMPLES: list[tuple[str, dict[str, Any], bool, bool]] = [
    (
        "CASE-02 ransomware without proper backup",
        {
            "breach_types": ["availability", "confidentiality"],
            "cause": {"source": "external", "intent": "malicious", "kind": "ransomware"},
            "data_categories": ["contact", "address"],
            "identifiability": "maximum",
            "exfiltration": "ruled_out",
            "recipients": "none",
            "availability": {
                "backup": False,
                "restored_within_hours": 120,
                "permanent_loss": False,
                "impact_on_subjects": "minor",
            },
        },
        True,
        False,
    ),
    (
        "CASE-03 ransomware with backup in a hospital",
        {
            "breach_types": ["availability", "confidentiality"],
            "cause": {"source": "external", "intent": "malicious", "kind": "ransomware"},
            "controller": {"sector": "health"},
            "data_categories": ["contact", "special"],
            "subjects": {"count": 1800, "vulnerable": True},
            "exfiltration": "ruled_out",
            "recipients": "none",
            "availability": {
                "backup": True,
                "restored_within_hours": 48,
                "permanent_loss": False,
                "impact_on_subjects": "significant",
            },
            "subjects_contactable": True,
        },
        True,
        True,
    ),
    (
        "CASE-05 exfiltration of job application data",
        {
            "breach_types": ["confidentiality"],
            "cause": {"source": "external", "intent": "malicious", "kind": "hacking"},
            "data_categories": ["contact", "address", "identity_document"],
            "identifiability": "maximum",
            "exfiltration": "confirmed",
            "recipients": "unknown",
            "subjects_contactable": True,
        },
        True,
        True,
    ),
    (
        "CASE-06 exfiltration of salted password hashes",
        {
            "breach_types": ["confidentiality"],
            "cause": {"source": "external", "intent": "malicious", "kind": "hacking"},
            "data_categories": ["credentials"],
            "credentials_for": "low_value",
            "encryption": {"state": "none", "hashed_salted": True},
            "exfiltration": "confirmed",
            "recipients": "unknown",
        },
        False,
        False,
    ),
    (
        "CASE-07 credential stuffing on a banking website",
        {
            "breach_types": ["confidentiality"],
            "cause": {"source": "external", "intent": "malicious", "kind": "credential_stuffing"},
            "data_categories": ["credentials", "financial", "contact"],
            "credentials_for": "financial",
            "identifiability": "maximum",
            "exfiltration": "possible",
            "recipients": "unknown",
            "subjects_contactable": True,
        },
        True,
        True,
    ),
    (
        "CASE-09 accidental transmission to a trusted third party",
        {
            "breach_types": ["confidentiality"],
            "cause": {"source": "internal", "intent": "accidental", "kind": "misdelivery"},
            "data_categories": ["contact", "address", "financial"],
            "recipients": "trusted",
            "data_recovered": True,
        },
        False,
        False,
    ),
    (
        "CASE-10 stolen device with encrypted data",
        {
            "breach_types": ["confidentiality", "availability"],
            "cause": {"source": "external", "intent": "malicious", "kind": "physical_theft"},
            "data_categories": ["contact", "address"],
            "encryption": {"state": "state_of_the_art", "key_compromised": False},
            "exfiltration": "possible",
            "recipients": "unknown",
            "availability": {
                "backup": True,
                "restored_within_hours": 2,
                "permanent_loss": False,
                "impact_on_subjects": "none",
            },
        },
        False,
        False,
    ),
    (
        "CASE-12 stolen paper files with sensitive data",
        {
            "breach_types": ["confidentiality", "availability"],
            "cause": {"source": "external", "intent": "malicious", "kind": "physical_theft"},
            "controller": {"sector": "health"},
            "data_categories": ["contact", "special"],
            "subjects": {"vulnerable": True},
            "exfiltration": "confirmed",
            "recipients": "unknown",
            "availability": {
                "backup": False,
                "permanent_loss": True,
                "impact_on_subjects": "significant",
            },
            "subjects_contactable": True,
        },
        True,
        True,
    ),
    (
        "CASE-14 highly confidential data sent by e-mail by mistake",
        {
            "breach_types": ["confidentiality"],
            "cause": {"source": "internal", "intent": "accidental", "kind": "misdelivery"},
            "data_categories": ["contact", "special"],
            "subjects": {"count": 60},
            "recipients": "known",
            "subjects_contactable": True,
        },
        True,
        True,
    ),
]


@pytest.mark.parametrize(
    ("name", "facts", "sa", "ds"), OWN_EXAMPLES, ids=[e[0].split()[0] for e in OWN_EXAMPLES]
)
def test_further_edpb_example(name: str, facts: dict[str, Any], sa: bool, ds: bool) -> None:
    result = run({"aware_at": AWARE, **facts})
    assert result["notify_authority"]["required"] is sa, name
    assert result["notify_subjects"]["required"] is ds, name


# -- Art. 34(3) exemptions -----------------------------------------------------------------


def case_11(**changes: Any) -> dict[str, Any]:
    facts: dict[str, Any] = copy.deepcopy(SHIPPED["CASE-11"]["facts"])
    facts.update(changes)
    return facts


def test_encrypted_data_is_exempt_and_not_notifiable() -> None:
    facts = case_11(encryption={"state": "state_of_the_art", "key_compromised": False})
    result = run(facts)
    subjects = result["notify_subjects"]
    assert result["notify_authority"]["required"] is False
    assert (subjects["required"], subjects["exemption"]) == (False, "encrypted")
    assert "Art. 34(3)" in subjects["articles"]
    assert any("Art. 34(3)(a)" in r for r in subjects["reasons"])


def test_encryption_with_compromised_key_does_not_protect() -> None:
    facts = case_11(encryption={"state": "state_of_the_art", "key_compromised": True})
    result = run(facts)
    assert result["notify_subjects"]["required"] is True
    assert result["notify_subjects"]["exemption"] is None


def test_encryption_with_unknown_key_state_is_assumed_compromised() -> None:
    result = run(case_11(encryption={"state": "state_of_the_art"}))
    assert result["notify_subjects"]["required"] is True
    (key,) = [a for a in result["assumptions"] if a["field"] == "$.encryption.key_compromised"]
    assert key["assumed"] is True
    assert any(
        w.startswith("false: the authority would not have to be notified")
        for w in key["would_change"]
    )


def test_recovered_copies_mitigate_the_high_risk() -> None:
    result = run(case_11(recipients="known", data_recovered=True))
    assert result["notify_authority"]["required"] is True
    subjects = result["notify_subjects"]
    assert (subjects["required"], subjects["exemption"]) == (False, "mitigated")
    assert any("Art. 34(3)(b)" in r for r in subjects["reasons"])


def test_published_data_cannot_be_mitigated() -> None:
    result = run(case_11(recipients="public", data_recovered=True))
    assert result["notify_subjects"]["required"] is True


def test_disproportionate_effort_means_public_communication() -> None:
    result = run(case_11(subjects_contactable=False))
    subjects = result["notify_subjects"]
    assert subjects["required"] is False
    assert subjects["exemption"] == "disproportionate_effort"
    assert subjects["public_communication"] is True
    assert "Art. 34(3)(c)" in subjects["articles"]


def test_availability_with_significant_impact_is_high_risk() -> None:
    facts = copy.deepcopy(SHIPPED["CASE-01"]["facts"])
    facts["availability"]["impact_on_subjects"] = "significant"
    facts["subjects_contactable"] = True
    result = run(facts)
    assert result["notify_authority"]["required"] is True
    assert result["notify_subjects"]["required"] is True


@pytest.mark.parametrize(
    ("integrity", "categories", "sa", "ds"),
    [
        ("intact", ["contact"], False, False),
        ("altered_recoverable", ["contact"], True, False),
        ("altered_not_recoverable", ["contact"], True, False),
        ("altered_not_recoverable", ["financial"], True, True),
    ],
)
def test_integrity(integrity: str, categories: list[str], sa: bool, ds: bool) -> None:
    facts = {
        "aware_at": AWARE,
        "breach_types": ["integrity"],
        "integrity": integrity,
        "data_categories": categories,
        "cause": {"intent": "accidental"},
        "subjects_contactable": True,
    }
    result = run(facts)
    assert (result["notify_authority"]["required"], result["notify_subjects"]["required"]) == (
        sa,
        ds,
    )


# -- the 72-hour deadline ------------------------------------------------------------------


def test_deadline_is_72_hours_after_awareness_in_utc() -> None:
    facts = case_11(aware_at="2026-02-02T10:00:00+01:00")
    assert run(facts)["notify_authority"]["deadline"] == DEADLINE


@pytest.mark.parametrize(
    ("now", "late"),
    [
        (dt.datetime(2026, 2, 5, 9, 0, tzinfo=dt.UTC), False),  # exactly at the deadline
        (dt.datetime(2026, 2, 5, 9, 0, 1, tzinfo=dt.UTC), True),
    ],
)
def test_late_when_now_is_past_the_deadline(now: dt.datetime, late: bool) -> None:
    authority = run(case_11(), now=now)["notify_authority"]
    assert authority["late"] is late
    assert any("reasons for the delay" in r for r in authority["reasons"]) is late


def test_notified_late_asks_for_reasons_even_if_assessed_early() -> None:
    facts = case_11(notified={"authority_at": "2026-02-06T12:00:00Z"})
    authority = run(facts)["notify_authority"]
    assert authority["late"] is True
    assert any(
        r.startswith("The authority was notified at 2026-02-06T12:00:00Z, after the 72-hour")
        for r in authority["reasons"]
    )


def test_notified_in_time_is_not_late_even_if_assessed_afterwards() -> None:
    facts = case_11(notified={"authority_at": "2026-02-03T12:00:00Z"})
    authority = run(facts, now=dt.datetime(2026, 3, 1, tzinfo=dt.UTC))["notify_authority"]
    assert authority["late"] is False


def test_no_duty_is_never_late() -> None:
    result = run(SHIPPED["CASE-01"]["facts"], now=dt.datetime(2027, 1, 1, tzinfo=dt.UTC))
    assert result["notify_authority"]["late"] is False


def test_high_risk_in_time_warns_that_72_hours_may_be_too_slow() -> None:
    reasons = run(case_11())["notify_authority"]["reasons"]
    assert any("para. 24" in r for r in reasons)


# -- missing facts -------------------------------------------------------------------------


def test_minimal_facts_state_assumptions_and_what_would_change() -> None:
    facts = {"aware_at": AWARE, "breach_types": ["confidentiality"], "data_categories": ["contact"]}
    result = run(facts)
    assumed = {a["field"]: a for a in result["assumptions"]}
    assert set(assumed) == {
        "$.identifiability",
        "$.recipients",
        "$.cause.intent",
        "$.jurisdictions",
    }
    assert result["notify_authority"]["required"] is True
    # Who got the data decides; intent only moves the severity.
    assert (
        '"none": the authority would not have to be notified.'
        in assumed["$.recipients"]["would_change"]
    )
    assert assumed["$.cause.intent"]["would_change"] == []
    assert assumed["$.cause.intent"]["statement"].endswith(
        "No other answer would change the decision."
    )


def test_unknown_credential_target_is_assumed_sensitive() -> None:
    facts = {
        "aware_at": AWARE,
        "breach_types": ["confidentiality"],
        "data_categories": ["credentials"],
        "recipients": "known",
        "cause": {"intent": "accidental"},
        "subjects_contactable": True,
    }
    result = run(facts)
    (cred,) = [a for a in result["assumptions"] if a["field"] == "$.credentials_for"]
    assert cred["assumed"] == "sensitive"
    assert result["notify_subjects"]["required"] is True
    assert any(
        w.startswith('"low_value": the people concerned would not have to be told')
        for w in cred["would_change"]
    )


def test_unknown_contactability_is_assumed_contactable() -> None:
    result = run(case_11())
    (a,) = [a for a in result["assumptions"] if a["field"] == "$.subjects_contactable"]
    assert a["would_change"] == [
        "false: a public communication would replace telling each person (Art. 34(3)(c))."
    ]


def test_unknown_availability_impact_is_assumed_minor() -> None:
    facts = {
        "aware_at": AWARE,
        "breach_types": ["availability"],
        "data_categories": ["contact"],
        "availability": {"backup": True, "restored_within_hours": 3},
    }
    result = run(facts)
    (a,) = [a for a in result["assumptions"] if a["field"] == "$.availability.impact_on_subjects"]
    assert a["assumed"] == "minor"
    assert result["notify_authority"]["required"] is True
    assert any(
        w.startswith('"none": the authority would not have to be notified')
        for w in a["would_change"]
    )


def test_other_jurisdictions_are_flagged_not_assessed() -> None:
    result = run(case_11(jurisdictions=["EU-FR", "UK"]))
    (a,) = [a for a in result["assumptions"] if a["field"] == "$.jurisdictions"]
    assert "UK must be assessed separately" in a["statement"]
    assert not any(
        a["field"] == "$.jurisdictions"
        for a in run(case_11(jurisdictions=["EU-FR"]))["assumptions"]
    )


# -- the engine ----------------------------------------------------------------------------


def test_output_shape() -> None:
    result = run(case_11())
    assert set(result) == {
        "jurisdiction",
        "severity",
        "notify_authority",
        "notify_subjects",
        "document",
        "assumptions",
    }
    assert set(result["severity"]) == {"dpc", "ei", "cb", "score", "level", "explanation"}
    assert set(result["notify_authority"]) == {
        "required",
        "deadline",
        "late",
        "reasons",
        "articles",
    }
    assert set(result["notify_subjects"]) == {
        "required",
        "exemption",
        "public_communication",
        "reasons",
        "articles",
    }
    json.dumps(result)  # JSON-ready


def test_reasons_are_sentences() -> None:
    result = run(case_11())
    for duty in ("notify_authority", "notify_subjects"):
        for reason in result[duty]["reasons"]:
            assert reason[0].isupper() and reason.endswith("."), reason


def test_input_forms_agree() -> None:
    facts = SHIPPED["CASE-08"]["facts"]
    text = json.dumps(facts)
    assert (
        run(facts)
        == assess(text, now=BEFORE_DEADLINE)
        == assess(text.encode(), now=BEFORE_DEADLINE)
    )


def test_pure_given_now() -> None:
    assert run(case_11()) == run(case_11())


def test_registry() -> None:
    assert JURISDICTIONS
    for name, cls in JURISDICTIONS.items():
        assert cls.name == name
        assert cls.title


def test_unknown_jurisdiction_and_naive_now_are_refused() -> None:
    with pytest.raises(ConfigError, match="unknown jurisdiction 'XX'; known: EU"):
        assess(case_11(), now=BEFORE_DEADLINE, jurisdiction="XX")
    with pytest.raises(ConfigError, match="UTC offset"):
        assess(case_11(), now=dt.datetime(2026, 2, 3))


def test_now_defaults_to_the_clock() -> None:
    assert assess(case_11())["notify_authority"]["late"] is True  # 2026-02 is long past


def test_permanent_loss_is_a_risk_even_with_minor_impact() -> None:
    facts = {
        "aware_at": AWARE,
        "breach_types": ["availability"],
        "data_categories": ["order_details"],
        "availability": {"backup": False, "permanent_loss": True, "impact_on_subjects": "minor"},
    }
    result = run(facts)
    assert result["notify_authority"]["required"] is True
    assert result["notify_subjects"]["required"] is False
    assert any("permanently lost" in r for r in result["notify_authority"]["reasons"])


def test_hashed_passwords_are_not_damaging_but_the_rest_still_counts() -> None:
    facts = {
        "aware_at": AWARE,
        "breach_types": ["confidentiality"],
        "data_categories": ["credentials", "contact"],
        "credentials_for": "financial",
        "encryption": {"state": "none", "hashed_salted": True},
        "recipients": "known",
        "identifiability": "limited",
        "cause": {"intent": "accidental"},
    }
    result = run(facts)
    assert result["notify_authority"]["required"] is True  # the contact data is readable
    assert result["notify_subjects"]["required"] is False


def test_an_answer_that_only_changes_the_exemption_is_reported() -> None:
    facts = {
        "aware_at": AWARE,
        "breach_types": ["confidentiality"],
        "data_categories": ["credentials"],
        "recipients": "known",
        "data_recovered": True,
        "identifiability": "maximum",
        "cause": {"intent": "accidental"},
    }
    result = run(facts)
    assert result["notify_subjects"]["exemption"] == "mitigated"
    (cred,) = [a for a in result["assumptions"] if a["field"] == "$.credentials_for"]
    assert '"low_value": the Art. 34(3) ground recorded would be none.' in cred["would_change"]
