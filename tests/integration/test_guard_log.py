"""The guard's log of human steps, on both stores: written once per id, read back per subject
in time order, kept whatever happens to the grant or suspension it is about."""

from __future__ import annotations

from sentinelle.config import Settings
from sentinelle.store import open_store
from sentinelle.store.guardlog import GuardLogRow


def test_steps_are_kept_once_and_read_per_subject_in_time_order(settings: Settings) -> None:
    store = open_store(settings)
    try:
        rows = [
            GuardLogRow("l-2", 20, "g-1", "seen", "merchant:m-1", "opened the request"),
            GuardLogRow("l-1", 10, "agent-1", "suspended", "sentinelle", "alert a-1 (high)"),
            GuardLogRow("l-3", 30, "agent-1", "lifted", "alice", "reviewed: false positive"),
        ]
        with store.writer() as w:
            w.log_guard(rows)
        with store.writer() as w:  # the same step again: kept as first written
            w.log_guard([rows[0]._replace(reason="changed")])
        assert store.guard_log(["agent-1"]) == [rows[1], rows[2]]
        assert store.guard_log(["g-1"]) == [rows[0]]
        assert [r.id for r in store.guard_log(["g-1", "agent-1"])] == ["l-1", "l-2", "l-3"]
        assert store.guard_log(["agent-1"], limit=1) == [rows[1]]
        assert store.guard_log(["nobody"]) == []
    finally:
        store.close()


def test_ingest_also_writes_in_the_batch_transaction_or_not_at_all(settings: Settings) -> None:
    """What ``Ingestor.ingest(also=...)`` writes commits with the events, and a refused batch
    writes neither (the guard stores its decisions' answers so)."""
    import pytest

    from sentinelle.errors import ValidationError
    from sentinelle.ingest import Ingestor
    from sentinelle.ledger.log import Ledger

    store = open_store(settings)
    try:
        ledger = Ledger.open(store, data_dir=settings.data_dir, origin=settings.log_origin)
        event = (
            '{"id": "t-1", "time": "2026-11-05T10:00:00Z", "type": "ticket.opened", '
            '"ticket": "T-1", "merchant": "m-1"}'
        )
        step = GuardLogRow("l-1", 1, "T-1", "seen", "test", "with the event")
        seen: list[int] = []

        def also(w: object, result: object) -> None:
            seen.append(result.stored)  # type: ignore[attr-defined]
            w.log_guard([step])  # type: ignore[attr-defined]

        Ingestor(store, ledger).ingest([(0, event)], unit="index", also=also)
        assert seen == [1]
        assert store.guard_log(["T-1"]) == [step]
        with pytest.raises(ValidationError):
            Ingestor(store, ledger).ingest(
                [(0, event.replace("t-1", "t-2")), (1, "{}")],
                unit="index",
                also=lambda w, _r: w.log_guard([step._replace(id="l-2")]),  # type: ignore[attr-defined]
            )
        assert store.guard_log(["T-1"]) == [step]
    finally:
        store.close()
