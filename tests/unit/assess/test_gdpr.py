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
#
# Checked against EDPB Guidelines 01/2021 v2.0 (adopted 14 December 2021). Sources found:
# [P] a GitHub transcription of the official PDF that stops after CASE 01 (table of contents
#     with all 18 case titles, paras 1-25);
# [S] secondary pages that quote or summarise single cases: hrlaw.pl (CASE 08, CASE 11, quoting
#     v2.0), gtlaw-dataprivacydish.com and natlawreview.com (CASE 06, 08, 10, on the v1.0
#     draft), bakermckenzie / connectontech (CASE 03, v1.0 draft), ije.be (summary table of the
#     human-error cases 09, 13, 14, 16).
# Each entry says what was verified. "UNVERIFIED" means no text of that case was found: its
# facts and conclusions are still the previous engineer's restatement from memory.

OWN_EXAMPLES: list[tuple[str, dict[str, Any], bool, bool]] = [
    # CASE 02 "Ransomware without proper backup" (title [P]). UNVERIFIED: neither the facts nor
    # the conclusion (SA yes, data subjects no) were found in any source.
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
    # CASE 03 "Ransomware with backup and without exfiltration in a hospital" (title [P]).
    # Conclusion verified [S, draft]: no exfiltration, but restoring took a couple of days and
    # delayed medical procedures, so a high risk: both the SA and the patients are told. The
    # number of patients (1800) is not verified.
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
    # CASE 05 "Exfiltration of job application data from a website" (title [P]). UNVERIFIED:
    # no text of the case was found; facts and conclusion (both notified) are from memory.
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
    # CASE 06 "Exfiltration of hashed password from a website" (title [P]). Data subjects:
    # verified [S, draft]: telling them is advisable but not required when the passwords were
    # salted and hashed with a state-of-the-art algorithm. SA: UNVERIFIED (no source states it).
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
    # CASE 07 "Credential stuffing attack on a banking website" (title [P]). UNVERIFIED: no
    # text of the case was found; facts and conclusion (both notified) are from memory.
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
    # CASE 09 "Accidental transmission of data to a trusted third party" (title [P]).
    # Conclusion verified [S, ije.be]: neither SA nor data subjects, provided the recipient is
    # bound to confidentiality (professional secrecy), deletion or return was ensured and no
    # sensitive data were sent. The data categories are not verified.
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
    # CASE 10 "Stolen material storing encrypted personal data" (title [P]). Conclusion
    # verified [S, draft]: strong encryption (key safe) and a backup mean no notification, only
    # internal documentation.
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
    # CASE 12 "Stolen paper files with sensitive data" (title [P]). UNVERIFIED: no text of the
    # case was found; facts and conclusion (both notified) are from memory.
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
    # CASE 14 "Highly confidential personal data sent by mail by mistake" (title [P]).
    # Conclusion verified [S, ije.be]: sensitive data sent by e-mail by mistake, SA yes and
    # data subjects yes. The facts (which data, how many people) are not verified, so the
    # invented head-count was removed.
    (
        "CASE-14 highly confidential data sent by e-mail by mistake",
        {
            "breach_types": ["confidentiality"],
            "cause": {"source": "internal", "intent": "accidental", "kind": "misdelivery"},
            "data_categories": ["contact", "special"],
            "recipients": "known",
            "subjects_contactable": True,
        },
        True,
        True,
    ),
    # CASE 08 "Exfiltration of business data by an employee" (title [P]; v2.0 says "an
    # employee", who has left by the time he uses the data). Verified [S, hrlaw.pl quoting v2.0;
    # gtlaw; reeflegal]: during his notice period an employee authorised to access the data
    # copies it; months later he uses the "basic contact data" to entice the clients to his new
    # business. No special categories, not sensitive, low or medium volume. "The controller is
    # not in a position to consider the risk ... to be low", since it has no reassurance on his
    # intentions and "further and more grave abuse ... is not ruled out": notify the SA. The
    # data subjects may appreciate being told, but Art. 34 does not require it.
    (
        "CASE-08 employee copies clients' basic contact data for his new business",
        {
            "breach_types": ["confidentiality"],
            "cause": {"source": "internal", "intent": "malicious", "kind": "insider_abuse"},
            "data_categories": ["contact"],
            "identifiability": "maximum",
            "encryption": {"state": "none"},
            "exfiltration": "confirmed",
            "recipients": "known",
            "subjects_contactable": True,
        },
        True,
        False,
    ),
    # CASE 11 "Stolen material storing non-encrypted personal data" (title [P]). Verified
    # [S, hrlaw.pl quoting v2.0, p. 25]: an employee's notebook was stolen, holding "names,
    # surnames, sex, addresses, and date of birth of more than 100,000 customers", with no
    # password or encryption; other categories could not be ruled out; daily backups. High
    # risk: SA, data subjects and documentation. (The shipped CASE-11 adds identity documents,
    # which the text does not mention; this entry keeps to the text.)
    (
        "CASE-11 stolen notebook, unencrypted, 100,000 customers",
        {
            "breach_types": ["confidentiality"],
            "cause": {"source": "external", "intent": "malicious", "kind": "physical_theft"},
            "data_categories": ["contact", "address"],
            "subjects": {"count": 100000, "approximate": True},
            "identifiability": "maximum",
            "encryption": {"state": "none"},
            "exfiltration": "possible",
            "recipients": "unknown",
            "availability": {
                "backup": True,
                "restored_within_hours": 24,
                "permanent_loss": False,
                "impact_on_subjects": "none",
            },
            "subjects_contactable": True,
        },
        True,
        True,
    ),
    # CASE 16 "Postal mail mistake" (title [P]). Conclusion verified [S, ije.be]: a motor
    # insurance policy posted to the wrong person: SA yes, data subjects no if no sensitive
    # data (the wrong recipient is asked to destroy or return it). The facts beyond that are
    # not verified and kept minimal.
    (
        "CASE-16 insurance policy posted to the wrong person",
        {
            "breach_types": ["confidentiality"],
            "cause": {"source": "internal", "intent": "accidental", "kind": "misdelivery"},
            "data_categories": ["contact", "address"],
            "recipients": "known",
            "subjects_contactable": True,
        },
        True,
        False,
    ),
]


@pytest.mark.parametrize(
    ("name", "facts", "sa", "ds"), OWN_EXAMPLES, ids=[e[0].split()[0] for e in OWN_EXAMPLES]
)
def test_further_edpb_example(name: str, facts: dict[str, Any], sa: bool, ds: bool) -> None:
    result = run({"aware_at": AWARE, **facts})
    assert result["notify_authority"]["required"] is sa, name
    assert result["notify_subjects"]["required"] is ds, name


# CASE 13 "Postal mail mistake" (title [P]): a webshop's orders and packing bills reach the
# wrong customer. Verified [S, ije.be]: neither SA nor data subjects; the wrong recipient is
# asked to delete the data, and does.
def test_case_13_webshop_parcel_to_the_wrong_customer() -> None:
    facts = {
        "aware_at": AWARE,
        "breach_types": ["confidentiality"],
        "cause": {"source": "internal", "intent": "accidental", "kind": "misdelivery"},
        "data_categories": ["contact", "address", "order_details"],
        "recipients": "known",
        "data_recovered": True,
    }
    result = run(facts)
    assert result["notify_authority"]["required"] is False
    assert result["notify_subjects"]["required"] is False
    # Not returned, or deliberately taken: the same mistake is a risk to notify.
    assert run({**facts, "data_recovered": False})["notify_authority"]["required"] is True
    malicious = {**facts, "cause": {"source": "internal", "intent": "malicious"}}
    assert run(malicious)["notify_authority"]["required"] is True


# -- insiders (EDPB 01/2021 CASE 08, internal human risk source) ---------------------------


def insider_copy(**changes: Any) -> dict[str, Any]:
    """An insider with legitimate access deliberately copies customers' contact details and
    addresses, as the incident pre-fill records it: who got the data is not stated."""
    facts: dict[str, Any] = {
        "aware_at": AWARE,
        "breach_types": ["confidentiality"],
        "cause": {"source": "internal", "intent": "malicious", "kind": "insider_abuse"},
        "data_categories": ["contact", "address", "order_details"],
        "subjects": {"count": 300},
        "identifiability": "maximum",
        "encryption": {"state": "none"},
        "exfiltration": "confirmed",
        "subjects_contactable": True,
    }
    facts.update(changes)
    return facts


def test_insider_copying_data_kept_to_himself_is_a_risk_not_a_high_risk() -> None:
    # CASE 08: the recipient is known (the employee, for his own business): no reassurance on
    # his intentions makes the risk not low (notify the SA), but Art. 34 is not required.
    result = run(insider_copy(recipients="known"))
    assert result["notify_authority"]["required"] is True
    assert result["notify_subjects"]["required"] is False


@pytest.mark.parametrize("recipients", [None, "unknown"])
def test_insider_harvest_gone_to_unknown_recipients_is_a_high_risk(recipients: str | None) -> None:
    # Unlike CASE 08, nobody knows where the data went: contact details with addresses and
    # order history in unknown hands make convincing phishing and fraud that quote real
    # orders likely (EDPB 9/2022 on the combination of data and malicious intent). Not stated,
    # the recipients are assumed unknown, and the assumption says what would change it.
    facts = insider_copy() if recipients is None else insider_copy(recipients=recipients)
    result = run(facts)
    assert result["notify_authority"]["required"] is True
    assert result["notify_subjects"]["required"] is True
    if recipients is None:
        assert any(a["field"] == "$.recipients" for a in result["assumptions"])


def test_insider_who_publishes_the_data_is_a_high_risk() -> None:
    result = run(insider_copy(recipients="public"))
    assert result["notify_subjects"]["required"] is True


def test_insider_copying_damaging_data_is_still_a_high_risk() -> None:
    result = run(insider_copy(data_categories=["contact", "payment_full"]))
    assert result["notify_subjects"]["required"] is True


def test_outsider_theft_of_contact_and_address_data_is_a_high_risk() -> None:
    # The same rule for an outsider's theft (it gives CASE 11's outcome on that case's facts).
    facts = insider_copy(cause={"source": "external", "intent": "malicious", "kind": "hacking"})
    result = run(facts)
    assert result["notify_subjects"]["required"] is True
    assert any("phishing" in r for r in result["notify_authority"]["reasons"])


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
        "cause": {"intent": "unknown"},  # (accidental, low-value credentials would be unlikely)
    }
    result = run(facts)
    assert result["notify_subjects"]["exemption"] == "mitigated"
    (cred,) = [a for a in result["assumptions"] if a["field"] == "$.credentials_for"]
    assert '"low_value": the Art. 34(3) ground recorded would be none.' in cred["would_change"]
