"""The console's alert queue in the store: most severe, then newest, then by id, paged by
keyset so every alert of the status comes once, and the counts by severity (both stores)."""

from __future__ import annotations

import random

from sentinelle.config import Settings
from sentinelle.detect import Alert, Severity
from sentinelle.detect.runner import alert_row
from sentinelle.detect.triage import triage
from sentinelle.response import ResponseEngine
from sentinelle.store import open_store
from sentinelle.store.alerts import AlertRow

T0 = 1_790_000_000 * 10**6


def _rows(n: int) -> list[AlertRow]:
    rng = random.Random(7)
    return [
        alert_row(
            Alert(
                id=f"al-{i:03d}",
                actor=f"agent-{i % 5}",
                detector="unjustified_access",
                time_us=T0 + rng.randrange(6) * 10**6,  # many ties in time: the id breaks them
                last_us=T0,
                severity=Severity(rng.randrange(1, 5)),
                score=1.0,
                merchants=["m-1"],
                events=[f"e-{i}"],
                reasons=["why"],
            )
        )
        for i in range(n)
    ]


def test_the_queue_pages_cover_each_alert_once_in_order(settings: Settings) -> None:
    store = open_store(settings)
    try:
        rows = _rows(40)
        with store.writer() as w:
            w.upsert_alerts(rows)
        dismissed = [r.id for r in rows[:7]]
        triage(store, ResponseEngine(store), dismissed, "dismissed", by="t", reason="noise")
        for status, wanted in (
            ("new", [r for r in rows if r.id not in dismissed]),
            (None, rows),
        ):
            seen: list[AlertRow] = []
            after = None
            while True:
                page = store.alerts_by_severity(limit=3, after=after, status=status)
                seen.extend(page)
                if len(page) < 3:
                    break
                last = page[-1]
                after = (last.severity, last.time_us, last.id)
            order = sorted(wanted, key=lambda r: (r.severity, r.time_us, r.id), reverse=True)
            assert [r.id for r in seen] == [r.id for r in order], status
        high = store.alerts_by_severity(limit=100, status="new", min_severity=3)
        assert high and all(r.severity >= 3 for r in high)
        counts = store.alert_counts(status="new")
        expected: dict[int, int] = {}
        for r in rows[7:]:
            expected[r.severity] = expected.get(r.severity, 0) + 1
        assert counts == expected
    finally:
        store.close()
