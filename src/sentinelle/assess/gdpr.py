"""EU GDPR breach-notification decision: Art. 4(12), 33 and 34 of Regulation (EU) 2016/679,
read with EDPB Guidelines 9/2022 (risk factors, documentation) and EDPB Guidelines 01/2021
(worked examples, cited below as "EDPB 01/2021 CASE n").

The decision follows the flow in ``breach-law.md`` §1.5:

1. Every breach is documented (Art. 33(5); 01/2021 para. 15).
2. The authority is notified unless the breach is *unlikely* to result in a risk (Art. 33(1)),
   within 72 hours of awareness; late notifications give the reasons for the delay.
3. The people concerned are told when the risk is *high* (Art. 34(1)), unless Art. 34(3)
   applies: (a) data unintelligible, e.g. encrypted with the key safe; (b) later measures
   mean the high risk is no longer likely; (c) disproportionate effort, in which case a
   public communication is made instead.

Risk is judged per kind of breach (confidentiality, integrity, availability) from the facts,
and the ENISA severity (:mod:`sentinelle.assess.enisa`) is one input among them: a
severity of high or very high makes the risk high, a low severity does not by itself make
it unlikely.
"""

from __future__ import annotations

import datetime as dt
import enum
from typing import ClassVar, Final

from msgspec import UNSET

from sentinelle.assess.base import (
    Assumption,
    AuthorityDuty,
    Decision,
    Exemption,
    Jurisdiction,
    SubjectsDuty,
)
from sentinelle.assess.enisa import Level, SeverityResult
from sentinelle.assess.facts import Facts

__all__ = ["DEADLINE", "GdprEU", "Risk"]

DEADLINE: Final = dt.timedelta(hours=72)

# Data whose disclosure can lead to identity theft, fraud, financial loss or discrimination
# (Recitals 75 and 85): their loss of confidentiality alone makes the risk high.
_DAMAGING: Final = frozenset(
    {"special", "children", "identity_document", "payment_full", "financial", "credentials"}
)


class Risk(enum.IntEnum):
    """The three outcomes Art. 33/34 distinguish."""

    UNLIKELY = 0
    """Unlikely to result in a risk: no notification, but documented (Art. 33(1), 33(5))."""
    RISK = 1
    """A risk: notify the supervisory authority (Art. 33)."""
    HIGH = 2
    """A high risk: also tell the people concerned (Art. 34)."""


class GdprEU(Jurisdiction):
    """EU GDPR Art. 33/34, as the EDPB reads them."""

    name: ClassVar[str] = "EU"
    title: ClassVar[str] = "EU GDPR (Regulation (EU) 2016/679)"

    def decide(self, facts: Facts, severity: SeverityResult, *, now: dt.datetime) -> Decision:
        """Decide the Art. 33 and Art. 34 duties. Pure: the result depends only on the arguments."""
        return _Assessment(facts, severity).decide(now)


class _Assessment:
    """One run: collects reasons and assumptions while judging each kind of breach."""

    def __init__(self, facts: Facts, severity: SeverityResult) -> None:
        self.facts = facts
        self.severity = severity
        self.assumptions: list[Assumption] = list(severity.assumptions)
        self.findings: list[str] = []  # why the risk is what it is, one sentence each
        self.exemption: Exemption | None = None  # an Art. 34(3) ground that removed a high risk
        self.exemption_reason = ""

    # -- risk per kind of breach ---------------------------------------------------------

    def decide(self, now: dt.datetime) -> Decision:
        f = self.facts
        kinds = " and ".join(f"loss of {t}" for t in f.breach_types)
        definition = (
            f"The incident is a personal data breach within Art. 4(12) GDPR: a breach of "
            f"security leading to {kinds} of personal data ({', '.join(f.data_categories)})."
        )
        risks = [Risk.UNLIKELY]
        if "confidentiality" in f.breach_types:
            risks.append(self._confidentiality())
        if "integrity" in f.breach_types or f.integrity not in (UNSET, "intact"):
            risks.append(self._integrity())
        if "availability" in f.breach_types:
            risks.append(self._availability())
        risk = max(risks)
        self.findings.append(
            f"The {self.severity.level.label.replace('_', ' ')} ENISA severity "
            f"(SE = {self.severity.score:g}) was weighed as one factor, not as the decision."
        )
        authority = self._authority(risk, definition, now)
        subjects = self._subjects(risk)
        return Decision(
            jurisdiction=GdprEU.name,
            notify_authority=authority,
            notify_subjects=subjects,
            document=True,
            assumptions=self.assumptions,
        )

    def _damaging(self) -> list[str]:
        """Exposed categories whose disclosure alone is high risk."""
        f = self.facts
        found: list[str] = []
        for cat in f.data_categories:
            if cat not in _DAMAGING:
                continue
            if cat == "credentials":
                if f.credentials_for == "low_value":
                    continue
                if f.encryption is not UNSET and f.encryption.hashed_salted is True:
                    continue
            found.append(cat)
        return found

    def _unintelligible(self) -> bool:
        """Art. 34(3)(a): every exposed item is unintelligible to whoever obtained it."""
        f = self.facts
        enc = f.encryption
        if enc is UNSET:
            return False
        if enc.state == "state_of_the_art":
            if enc.key_compromised is UNSET:
                self.assumptions.append(
                    Assumption(
                        field="$.encryption.key_compromised",
                        assumed=True,
                        statement="It is not known whether the decryption key is safe; we "
                        "assumed it was compromised, so the encryption does not protect the data.",
                        alternatives=(False,),
                    )
                )
                return False
            return enc.key_compromised is False
        # Salted state-of-the-art hashes protect passwords only (EDPB 01/2021 CASE 06).
        return enc.hashed_salted is True and set(f.data_categories) == {"credentials"}

    def _confidentiality(self) -> Risk:
        f = self.facts
        recipients = f.recipients if f.recipients is not UNSET else "unknown"
        if f.exfiltration == "ruled_out" and f.recipients in (UNSET, "none"):
            self.findings.append(
                "Exfiltration was ruled out and nobody obtained the data, so its confidentiality "
                "is not at risk (EDPB 01/2021 CASE 01)."
            )
            return Risk.UNLIKELY
        if recipients == "none":
            self.findings.append("Nobody obtained the data, so its confidentiality is not at risk.")
            return Risk.UNLIKELY
        if recipients == "trusted" and f.data_recovered is not False:
            self.findings.append(
                "The data reached only a trusted recipient bound to confidentiality who deleted "
                "or returned it, so a risk is unlikely (EDPB 01/2021 CASE 09)."
            )
            return Risk.UNLIKELY
        damaging = self._damaging()
        accidental = f.cause is not UNSET and f.cause.intent == "accidental"
        if recipients == "known" and accidental and f.data_recovered is True and not damaging:
            self.findings.append(
                "The data reached a known recipient by mistake, who returned or deleted it, and "
                "it is not data whose disclosure can cause serious harm, so a risk is unlikely "
                "(EDPB 01/2021 CASE 13)."
            )
            return Risk.UNLIKELY
        reasons_high = []
        if damaging:
            reasons_high.append(
                f"the data includes {', '.join(damaging)}, whose disclosure can lead to identity "
                "theft, fraud, financial loss or discrimination"
            )
        if self.severity.level >= Level.HIGH:
            reasons_high.append(
                f"the ENISA severity is {self.severity.level.label.replace('_', ' ')}"
            )
        if f.subjects is not UNSET and f.subjects.vulnerable is True:
            reasons_high.append("the people concerned are vulnerable")
        malicious = f.cause is not UNSET and f.cause.intent == "malicious"
        cats = set(f.data_categories)
        if (
            malicious
            and recipients in ("unknown", "public")
            and "contact" in cats
            and cats & {"order_details", "address"}
        ):
            # Data taken on purpose, by someone who can reach each person and quote what they
            # bought and where they live, is the raw material of convincing phishing and fraud:
            # the intent makes misuse likely (EDPB Guidelines 9/2022 on the likelihood of harm).
            reasons_high.append(
                "the data was taken deliberately and combines contact details with "
                f"{' and '.join(sorted(cats & {'order_details', 'address'}))}, which enables "
                "convincing phishing and fraud that quote real orders and addresses"
            )
        inherent = Risk.HIGH if reasons_high else Risk.RISK
        who = {
            "trusted": "a recipient who has not returned or deleted it",
            "known": "known but unauthorised recipients",
            "unknown": "unknown recipients",
            "public": "the public",
        }[recipients]
        if self._unintelligible():
            self.findings.append(
                "The data was disclosed to "
                f"{who}, but it was protected by state-of-the-art encryption or hashing whose "
                "key was not compromised, so it is unintelligible and a risk is unlikely "
                "(Art. 34(3)(a); EDPB 01/2021 CASE 06 and CASE 10)."
            )
            if inherent is Risk.HIGH:
                self._exempt(
                    "encrypted",
                    "Art. 34(3)(a): the data is unintelligible to anyone "
                    "not authorised to access it (state-of-the-art encryption, key safe).",
                )
            return Risk.UNLIKELY
        if inherent is Risk.HIGH and f.data_recovered is True and recipients != "public":
            self.findings.append(
                f"The data was disclosed to {who}; the risk would be high because "
                f"{' and '.join(reasons_high)}, but the copies were retrieved or proven deleted."
            )
            self._exempt(
                "mitigated",
                "Art. 34(3)(b): the copies were retrieved or proven "
                "deleted, so the high risk is no longer likely to materialise.",
            )
            return Risk.RISK
        if inherent is Risk.HIGH:
            self.findings.append(
                f"The data was disclosed to {who}, and the risk is high because "
                f"{' and '.join(reasons_high)}."
            )
        else:
            self.findings.append(
                f"The data was disclosed to {who}; people may lose control of their data or "
                "receive unwanted contact, so a risk cannot be ruled out (EDPB 01/2021 CASE 08)."
            )
        return inherent

    def _integrity(self) -> Risk:
        f = self.facts
        state = f.integrity if f.integrity is not UNSET else "altered_not_recoverable"
        if state == "intact":
            self.findings.append("The data was not altered.")
            return Risk.UNLIKELY
        if state == "altered_recoverable":
            self.findings.append(
                "Data was altered but can be recovered; decisions taken on the altered data "
                "in the meantime are a risk."
            )
            return Risk.RISK
        if self._damaging() or self.severity.level >= Level.HIGH:
            self.findings.append(
                "Data was altered and cannot be recovered, and the data or the severity makes "
                "the harm of using it high."
            )
            return Risk.HIGH
        self.findings.append("Data was altered and cannot be recovered.")
        return Risk.RISK

    def _availability(self) -> Risk:
        f = self.facts
        av = f.availability
        impact = av.impact_on_subjects if av is not UNSET else UNSET
        permanent = (
            av is UNSET
            or av.permanent_loss is True
            or (av.permanent_loss is UNSET and av.backup is UNSET)
        )
        if impact is UNSET:
            impact = "minor"
            self.assumptions.append(
                Assumption(
                    field="$.availability.impact_on_subjects",
                    assumed="minor",
                    statement="The effect of the unavailability on the people concerned is not "
                    "known; we assumed a minor effect (delays, inconvenience).",
                    alternatives=("none", "significant"),
                )
            )
        if impact == "significant":
            self.findings.append(
                "The loss of availability has a significant effect on the people concerned, "
                "so the risk is high (EDPB 01/2021 CASE 03)."
            )
            return Risk.HIGH
        if permanent:
            self.findings.append(
                "The data is, or is assumed to be, permanently lost, which is a risk to the "
                "people concerned."
            )
            return Risk.RISK
        if impact == "minor":
            self.findings.append(
                "The data was unavailable for a time with a minor effect on the people "
                "concerned, which is a risk (EDPB 01/2021 CASE 02)."
            )
            return Risk.RISK
        self.findings.append(
            "The data was restored from backup without effect on the people concerned, so the "
            "loss of availability is unlikely to result in a risk (EDPB 01/2021 CASE 01)."
        )
        return Risk.UNLIKELY

    def _exempt(self, exemption: Exemption, reason: str) -> None:
        if self.exemption is None:
            self.exemption, self.exemption_reason = exemption, reason

    # -- the two duties ------------------------------------------------------------------

    def _authority(self, risk: Risk, definition: str, now: dt.datetime) -> AuthorityDuty:
        f = self.facts
        deadline = f.aware_at + DEADLINE
        articles = ["Art. 4(12)", "Art. 33(1)", "Art. 33(5)"]
        reasons = [definition, *self.findings]
        if risk is Risk.UNLIKELY:
            reasons.append(
                "The breach is unlikely to result in a risk to the rights and freedoms of natural "
                "persons, so the supervisory authority need not be notified (Art. 33(1)); record "
                "the breach and this reasoning in the register (Art. 33(5))."
            )
            return AuthorityDuty(
                required=False, deadline=deadline, late=False, reasons=reasons, articles=articles
            )
        articles += ["Art. 33(3)", "Art. 33(4)"]
        reasons.append(
            "The breach is likely to result in a risk to the rights and freedoms of natural "
            "persons, so the supervisory authority must be notified (Art. 33(1))."
        )
        aware = _iso(f.aware_at)
        when = f.notified.authority_at if f.notified is not UNSET else UNSET
        late = (now if when is UNSET else when) > deadline
        if when is not UNSET and late:
            reasons.append(
                f"The authority was notified at {_iso(when)}, after the 72-hour deadline of "
                f"{_iso(deadline)} (awareness at {aware}); the notification must be accompanied "
                "by the reasons for the delay (Art. 33(1)): record them."
            )
        elif late:
            reasons.append(
                f"The 72-hour deadline of {_iso(deadline)} (awareness at {aware}) has passed: "
                "notify now; the notification must give the reasons for the delay (Art. 33(1)), "
                "so record them."
            )
        elif when is not UNSET:
            reasons.append(
                f"The authority was notified at {_iso(when)}, within 72 hours of awareness "
                f"at {aware}."
            )
        else:
            reasons.append(
                f"Notify without undue delay and no later than {_iso(deadline)}, 72 hours after "
                f"awareness at {aware}, weekends and holidays included; information not yet "
                "known may follow in phases (Art. 33(4))."
            )
        if risk is Risk.HIGH and not late:
            reasons.append(
                "Because the risk is high, even notifying within 72 hours may be viewed as "
                "unsatisfactory: notify as early as possible (EDPB 01/2021 para. 24)."
            )
        return AuthorityDuty(
            required=True, deadline=deadline, late=late, reasons=reasons, articles=articles
        )

    def _subjects(self, risk: Risk) -> SubjectsDuty:
        f = self.facts
        articles = ["Art. 34(1)"]
        if risk is not Risk.HIGH:
            reasons = [
                "The breach is not likely to result in a high risk to the rights and freedoms of "
                "natural persons, so the people concerned need not be told (Art. 34(1)); telling "
                "them may still be good practice."
            ]
            if self.exemption is not None:
                reasons.append(
                    f"{self.exemption_reason} Without this the risk would be high; record that "
                    "Art. 34(3) was relied on and why."
                )
                articles.append("Art. 34(3)")
            reasons.append("The supervisory authority may still require it (Art. 34(4)).")
            articles.append("Art. 34(4)")
            return SubjectsDuty(
                required=False,
                exemption=self.exemption,
                public_communication=False,
                reasons=reasons,
                articles=articles,
            )
        reasons = [
            "The breach is likely to result in a high risk to the rights and freedoms of natural "
            "persons, so the people concerned must be told without undue delay (Art. 34(1))."
        ]
        contactable = f.subjects_contactable
        if contactable is UNSET:
            self.assumptions.append(
                Assumption(
                    field="$.subjects_contactable",
                    assumed=True,
                    statement="It is not known whether each person can be contacted; we assumed "
                    "they can, so Art. 34(3)(c) does not apply.",
                    alternatives=(False,),
                )
            )
            contactable = True
        if not contactable:
            reasons.append(
                "Contacting each person would involve disproportionate effort, so instead make a "
                "public communication or similar measure that informs them in an equally "
                "effective manner, such as a prominent website notice or a press release "
                "(Art. 34(3)(c))."
            )
            return SubjectsDuty(
                required=False,
                exemption="disproportionate_effort",
                public_communication=True,
                reasons=reasons,
                articles=[*articles, "Art. 34(3)(c)"],
            )
        reasons.append(
            "Describe in clear and plain language the nature of the breach, the contact point, "
            "the likely consequences and the measures taken or proposed, including what people "
            "can do to protect themselves (Art. 34(2), Art. 33(3)(b)-(d))."
        )
        return SubjectsDuty(
            required=True,
            exemption=None,
            public_communication=False,
            reasons=reasons,
            articles=[*articles, "Art. 34(2)"],
        )


def _iso(value: dt.datetime) -> str:
    return value.astimezone(dt.UTC).isoformat().replace("+00:00", "Z")
