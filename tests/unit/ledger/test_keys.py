"""The chain of recorded ledger keys: each rotation signed by the key before it."""

from __future__ import annotations

import pytest

from sentinelle.errors import ConfigError, IntegrityError
from sentinelle.ledger.checkpoint import SigningKey
from sentinelle.ledger.keys import LedgerKey, check_chain, check_text, rotation_text

ORIGIN = "example.com/log"


def chain(n: int) -> tuple[list[SigningKey], list[LedgerKey]]:
    keys = [SigningKey.generate(ORIGIN) for _ in range(n)]
    records = [LedgerKey(0, keys[0].verifier(), 0, 1, "alice", "first use", None)]
    for i in range(1, n):
        text = rotation_text(
            ORIGIN, keys[i - 1].verifier(), keys[i].verifier(),
            from_size=10 * i, at_us=i, by="bob", reason=f"rotation {i}",
        )  # fmt: skip
        statement = keys[i - 1].sign_text(text)
        records.append(
            LedgerKey(i, keys[i].verifier(), 10 * i, i, "bob", f"rotation {i}", statement)
        )
    return keys, records


def test_a_chain_of_signed_rotations_is_accepted():
    check_chain(chain(4)[1], ORIGIN)
    check_chain([], ORIGIN)


def test_a_rotation_signed_by_the_new_key_itself_is_refused():
    keys, records = chain(2)
    text = rotation_text(
        ORIGIN, keys[0].verifier(), keys[1].verifier(), from_size=10, at_us=1, by="bob",
        reason="rotation 1",
    )  # fmt: skip
    forged = LedgerKey(1, keys[1].verifier(), 10, 1, "bob", "rotation 1", keys[1].sign_text(text))
    with pytest.raises(IntegrityError, match=r"\(#1\) is not signed by the previous key"):
        check_chain([records[0], forged], ORIGIN)


@pytest.mark.parametrize(
    "change",
    [
        {"from_size": 5},  # moved back
        {"added_by": "mallory"},
        {"reason": "other"},
        {"added_us": 99},
        {"statement": None},
    ],
)
def test_a_changed_rotation_record_is_refused(change: dict[str, object]):
    _, records = chain(3)
    fields = {
        "seq": 2,
        "verifier": records[2].verifier,
        "from_size": records[2].from_size,
        "added_us": records[2].added_us,
        "added_by": records[2].added_by,
        "reason": records[2].reason,
        "statement": records[2].statement,
    }
    fields.update(change)
    with pytest.raises(IntegrityError, match="the ledger_keys table was altered"):
        check_chain([*records[:2], LedgerKey(**fields)], ORIGIN)  # type: ignore[arg-type]


def test_gaps_and_a_first_key_from_a_later_size_are_refused():
    _, records = chain(3)
    with pytest.raises(IntegrityError, match="#2 should be #1"):
        check_chain([records[0], records[2]], ORIGIN)
    first = records[0]
    late = LedgerKey(0, first.verifier, 5, 1, "alice", "first use", None)
    with pytest.raises(IntegrityError, match="does not start at tree size 0"):
        check_chain([late], ORIGIN)


def test_a_malformed_recorded_key_is_an_integrity_error():
    with pytest.raises(IntegrityError, match="#0 is not a verifier key"):
        LedgerKey.from_row((0, "not a key", 0, 1, "a", "first use", None))


@pytest.mark.parametrize("value", ["", "  ", "a\nb", "tab\t", "del\x7f"])
def test_who_and_why_must_be_one_line(value: str):
    with pytest.raises(ConfigError):
        check_text("the reason", value)
