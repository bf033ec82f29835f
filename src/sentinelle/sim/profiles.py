"""Simulation profiles: how varied the support desk is, beyond the default operation.

The ``default`` profile is the operation the demo and the tests have always simulated. The
other profiles add **hard negatives** — benign behaviour that looks like an insider scenario —
at rates drawn per seed from the ranges below (so two seeds of one profile are two different
desks), and change the team mix:

* quick self-made tickets (``fake_tickets``): the agent looks at a customer list to find a
  caller, opens a ticket themselves, views lists under it and closes it within minutes;
* merchants asking for exports (``departing_export``, ``pair_harvest``): ad-hoc exports and
  list views on request, some with a free-text reason and no ticket;
* on-call nights (``compromised_account``): tickets worked at 01:00–05:00 local from home;
* team moves (``low_and_slow``): an agent changes team and starts on merchants new to them;
* leave cover (``low_and_slow``, ``collusion``): a colleague follows up the pending tickets of
  someone on leave, without being assigned;
* QA sampling (``pair_harvest``, ``low_and_slow``): an agent on QA duty for a week looks at a
  few customers of many merchants, reason ``qa_sample``, no ticket;
* key accounts and repeat callers (``collusion``, ``vip_snooping``): a small team shares the
  unticketed follow-ups of its few busiest merchants; some customers call back for days;
* seasonal peaks (the peak week scaled) and late delivery (``late_share`` of agent-days sent
  hours later, from laptops that were offline, so the stream is no longer in time order).

``holdout`` is never used to tune the detectors: it is measured on, like unseen data.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import Final

__all__ = ["PROFILES", "Profile", "Rates"]


@dataclass(frozen=True, slots=True)
class Rates:
    """The hard-negative rates of one run (drawn from a profile's ranges with the seed)."""

    quick_self_ticket: float = 0.0  # share of phone tickets with a list view, closed in minutes
    phone_boost: float = 0.0  # extra share of tasks that are phone tickets
    export_request: float = 0.0  # per tier2/billing task: a merchant's export or list request
    loose_export: float = 0.0  # …share of those run with a free-text reason and no ticket
    oncall: float = 0.0  # share of agents on the on-call rota (a night a week or so)
    team_moves: float = 0.0  # share of agents who change team during the window
    leave_cover: float = 0.0  # share of absences whose pending tickets a colleague follows up
    qa_duty: float = 0.0  # share of agents with a week of QA sampling across merchants
    key_accounts: float = 0.0  # per task: an unticketed look at one of the team's key accounts
    repeat_callers: float = 0.0  # per ticket: the customer calls back on later days
    peak_scale: float = 1.0  # the peak week's extra volume, scaled
    late_share: float = 0.0  # share of agent-days whose events arrive hours late

    @property
    def any(self) -> bool:
        """Whether any hard negative is on."""
        return self != Rates()


@dataclass(frozen=True, slots=True)
class Profile:
    """A kind of support desk: team mix and hard-negative rate ranges."""

    name: str
    description: str
    team_share: dict[str, float] | None = None  # None: the default mix
    ranges: dict[str, tuple[float, float]] = field(default_factory=dict)
    tuned: bool = True  # False: kept out of tuning, measured on

    def rates(self, seed: int) -> Rates:
        """This profile's rates for ``seed`` (each drawn uniformly in its range)."""
        rng = random.Random(f"sentinelle.sim:{seed}:profile:{self.name}")  # noqa: S311
        return Rates(**{k: rng.uniform(lo, hi) for k, (lo, hi) in sorted(self.ranges.items())})


_DESK: Final = {
    "quick_self_ticket": (0.03, 0.12),
    "phone_boost": (0.02, 0.08),
    "export_request": (0.01, 0.04),
    "loose_export": (0.1, 0.4),
    "oncall": (0.05, 0.15),
    "team_moves": (0.02, 0.05),
    "leave_cover": (0.3, 0.7),
    "qa_duty": (0.03, 0.08),
    "key_accounts": (0.02, 0.06),
    "repeat_callers": (0.005, 0.02),
    "peak_scale": (0.8, 1.3),
    "late_share": (0.0, 0.0),
}

PROFILES: Final[dict[str, Profile]] = {
    p.name: p
    for p in (
        Profile("default", "The operation the demo and tests simulate: no extra hard negatives."),
        Profile(
            "desk",
            "A varied platform support desk: every hard negative at moderate, seed-varied rates.",
            ranges=_DESK,
        ),
        Profile(
            "shop",
            "A small team (use 10-20 agents): generalists, few merchants shared by everyone, "
            "more self-made phone tickets and key accounts.",
            team_share={
                "tier1": 0.55,
                "tier2": 0.25,
                "billing": 0.08,
                "fraud": 0.04,
                "onboarding": 0.04,
                "qa": 0.04,
            },
            ranges={
                **_DESK,
                "quick_self_ticket": (0.05, 0.2),
                "phone_boost": (0.05, 0.12),
                "key_accounts": (0.05, 0.12),
                "leave_cover": (0.5, 0.9),
            },
        ),
        Profile(
            "holdout",
            "Held out of tuning: other rates and team mix, late delivery from offline laptops.",
            team_share={
                "tier1": 0.35,
                "tier2": 0.22,
                "billing": 0.12,
                "fraud": 0.09,
                "onboarding": 0.12,
                "qa": 0.10,
            },
            ranges={
                "quick_self_ticket": (0.05, 0.25),
                "phone_boost": (0.04, 0.12),
                "export_request": (0.02, 0.06),
                "loose_export": (0.2, 0.6),
                "oncall": (0.1, 0.25),
                "team_moves": (0.03, 0.08),
                "leave_cover": (0.4, 1.0),
                "qa_duty": (0.05, 0.12),
                "key_accounts": (0.03, 0.1),
                "repeat_callers": (0.01, 0.03),
                "peak_scale": (0.6, 1.6),
                "late_share": (0.02, 0.08),
            },
            tuned=False,
        ),
    )
}
"""The profiles by name (``sentinelle simulate --profile``)."""
