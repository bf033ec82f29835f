"""The statistics behind graded detection (issue 13): base rates that allow for how much
colleagues differ, the chance two colleagues share merchants, evidence counted once per signal,
and a look-up justified by the ticket opened minutes after it."""

from __future__ import annotations

import json
import math
from typing import Any

import pytest

from sentinelle.detect import DETECTORS
from sentinelle.detect.base import Finding, Severity
from sentinelle.detect.context import BULK_SUBJECTS, Context
from sentinelle.detect.detectors import MIN_SHAPE, gamma_prior, hypergeom_tail, nb_tail
from sentinelle.detect.evidence import EvidenceConfig, record, risk
from sentinelle.events import AccessEvent, ContextEvent, decode_event
from sentinelle.timeutil import DAY, MINUTE, iso

T0 = 1_800_000_000_000_000


def poisson_tail(k: int, mean: float) -> float:
    """P(X >= k) for X ~ Poisson(mean): the reference the negative binomial tends to (the
    detectors once graded by it; no detector does now)."""
    if k <= 0:
        return 1.0
    mean = max(mean, 1e-9)
    term = math.exp(-mean)
    below = 0.0
    for i in range(k):
        below += term
        term *= mean / (i + 1)
    return max(0.0, 1.0 - below) if below < 0.999999 else term  # tail ≈ first term when tiny


def test_poisson_tail() -> None:
    assert poisson_tail(0, 1.0) == 1.0
    assert abs(poisson_tail(1, 1.0) - 0.6321) < 1e-4
    assert abs(poisson_tail(3, 0.1) - 1.547e-4) < 1e-6
    assert 0 < poisson_tail(30, 0.01) < 1e-60


def test_nb_tail_with_shape_one_is_geometric() -> None:
    # Gamma(1, rate) mixed Poisson over d days: P(X >= k) = (d / (rate + d)) ** k.
    for k in range(6):
        assert nb_tail(k, 1.0, 20.0, 2.0) == pytest.approx((2 / 22) ** k, rel=1e-9)


def test_nb_tail_tends_to_poisson_when_actors_do_not_differ() -> None:
    # A very narrow Gamma (shape 1e6, mean 0.1 a day) over 3 days is Poisson(0.3).
    for k in (1, 2, 4):
        assert nb_tail(k, 1e6, 1e7, 3.0) == pytest.approx(poisson_tail(k, 0.3), rel=1e-4)


def test_nb_tail_is_wider_than_poisson_and_falls_with_k() -> None:
    tails = [nb_tail(k, 2.0, 20.0, 5.0) for k in range(1, 8)]
    assert tails == sorted(tails, reverse=True)
    assert nb_tail(5, 2.0, 20.0, 5.0) > poisson_tail(5, 0.5)
    assert nb_tail(0, 2.0, 20.0, 5.0) == 1.0


def test_gamma_prior_of_a_team_whose_members_differ_is_wider() -> None:
    alike = gamma_prior([(10, 10)] * 8, 0.02)  # everyone: 1 a day
    differ = gamma_prior([(0, 10)] * 4 + [(20, 10)] * 4, 0.02)  # none, or 2 a day
    assert alike[0] / alike[1] == pytest.approx(1.0)  # the mean rate
    assert differ[0] / differ[1] == pytest.approx(1.0)
    assert differ[0] < alike[0]  # a smaller shape: a wider spread of rates
    # The spread is at least a squared coefficient of variation of 1 / sqrt(members) (little
    # is known of a small team), and never below 0.25 (a CV of 0.5), however large the team.
    assert alike[0] == pytest.approx(math.sqrt(8))
    assert gamma_prior([(10, 10)] * 40, 0.02)[0] == pytest.approx(4.0)


def test_gamma_prior_of_a_very_uneven_team_keeps_a_shape_of_a_half() -> None:
    # Two busy members among forty who never show it: by moments the shape would be ~0.05,
    # and forty quiet days would make a quiet member's first three a one-in-thousands event.
    uneven = gamma_prior([(0, 20)] * 38 + [(60, 20)] * 2, 0.02)
    assert uneven[0] == pytest.approx(MIN_SHAPE)
    assert uneven[0] / uneven[1] == pytest.approx(0.15)  # the mean rate is kept
    # A quiet member after 20 days: three in 5 days is unusual, not a one-in-thousands event.
    shape, rate = uneven
    assert 1e-3 < nb_tail(3, shape, rate + 20, 5) < 1e-2


def test_gamma_prior_of_nobody_is_the_floor_with_a_wide_spread() -> None:
    shape, rate = gamma_prior([], 0.05)
    assert shape == pytest.approx(1.0)
    assert shape / rate == pytest.approx(0.05)


def test_hypergeom_tail() -> None:
    assert hypergeom_tail(6, 6, 6, 106) == pytest.approx(1 / math.comb(106, 6))
    assert hypergeom_tail(6, 6, 6, 6) == pytest.approx(1.0)  # only those 6 to pick from
    assert hypergeom_tail(7, 6, 6, 106) == 0.0
    assert hypergeom_tail(0, 6, 6, 106) == 1.0
    # Direct: P(X >= 2) for 5 and 8 of 40.
    direct = sum(math.comb(5, j) * math.comb(35, 8 - j) / math.comb(40, 8) for j in range(2, 6))
    assert hypergeom_tail(2, 5, 8, 40) == pytest.approx(direct)


def _finding(detector: str, t: int, severity: Severity = Severity.MEDIUM) -> Finding:
    return Finding(detector, "ana", t, severity, 50.0, ("m1",), ("e1",), (detector,))


def test_detectors_reading_one_signal_count_once_a_day() -> None:
    cfg = EvidenceConfig()
    # The built-ins' own declarations (Detector.family), as the engine reads them.
    families = {name: cls.family for name, cls in DETECTORS.items() if cls.family}
    ledger: dict[str, list[tuple[int, str, float, str]]] = {}
    record(ledger, _finding("unjustified_access", T0), 1.0, cfg)
    record(ledger, _finding("long_horizon", T0 + MINUTE), 1.0, cfg)
    total, pieces = risk(ledger["ana"], T0 + MINUTE, cfg, families=families)
    assert total == pytest.approx(0.6, abs=1e-3) and len(pieces) == 1  # one signal, once
    record(ledger, _finding("fake_tickets", T0 + 2 * MINUTE), 1.0, cfg)
    total, pieces = risk(ledger["ana"], T0 + 2 * MINUTE, cfg, families=families)
    assert total == pytest.approx(1.2, abs=1e-3) and len(pieces) == 2  # another signal adds
    record(ledger, _finding("long_horizon", T0 + DAY), 1.0, cfg)
    total, _ = risk(ledger["ana"], T0 + DAY, cfg, families=families)
    assert total > 1.65  # the same signal on another day adds up too


def _decode(event: dict[str, Any]) -> Any:
    return decode_event(json.dumps(event))


def _list_view(t: int) -> AccessEvent:
    event: AccessEvent = _decode(
        {
            "id": f"a-{t}",
            "time": iso(t),
            "actor": {"id": "ana", "kind": "staff", "team": "care"},
            "action": "view",
            "merchant": "m1",
            "resource": {"type": "customer_list", "count": BULK_SUBJECTS},
            "subjects": [f"c{i}" for i in range(BULK_SUBJECTS)],
            "data": ["contact"],
            "channel": "support_console",
            "outcome": "allowed",
        }
    )
    return event


def _assigned(t: int, merchant: str) -> ContextEvent:
    event: ContextEvent = _decode(
        {
            "id": f"c-{t}",
            "time": iso(t),
            "type": "ticket.assigned",
            "ticket": "T1",
            "merchant": merchant,
            "actor": "ana",
        }
    )
    return event


@pytest.mark.parametrize(
    ("minutes", "merchant", "pardoned"),
    [(5, "m1", True), (29, "m1", True), (31, "m1", False), (5, "m2", False)],
    ids=["5-minutes", "29-minutes", "31-minutes", "another-merchant"],
)
def test_a_ticket_assigned_minutes_after_a_look_up_justifies_it(
    minutes: int, merchant: str, pardoned: bool
) -> None:
    """An agent searches the customer list for the caller, then opens the ticket: the list
    view was for the ticket. Half an hour later, or at another merchant, it was not."""
    ctx = Context()
    state = ctx.actor("ana")
    ctx.record_access(state, _list_view(T0), T0, False)
    assert "m1" in state.b24 and "m1" in state.n24 and "m1" in state.today.unjustified
    later = T0 + minutes * MINUTE
    ctx.apply_context(_assigned(later, merchant), later)
    assert ("m1" not in state.b24) is pardoned
    assert ("m1" not in state.u7) is pardoned
    assert ("m1" not in state.n7) is pardoned
    assert ("m1" not in state.today.unjustified_bulk) is pardoned
    assert ctx.tickets["T1"].before == (1 if pardoned else 0)
