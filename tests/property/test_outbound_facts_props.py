"""Property tests: what a delivery row keeps of a suspension, a lift or a deadline warning
(``Message.facts``) decodes back into the same message (``message_from_facts``), and facts
that do not decode are a :class:`StoreError`, never another exception."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sentinelle.connectors.messages import (
    DeadlineMessage,
    Kind,
    Stage,
    SuspensionMessage,
    message_from_facts,
)
from sentinelle.errors import StoreError

_us = st.integers(min_value=0, max_value=2**62)
_opt_text = st.none() | st.text()

suspensions = st.builds(
    SuspensionMessage,
    step=st.text(),
    actor=st.text(),
    at_us=_us,
    by=st.text(),
    lifted=st.booleans(),
    alert=_opt_text,
    detector=_opt_text,
    severity=st.none() | st.integers(min_value=1, max_value=4),
)
deadlines = st.builds(
    DeadlineMessage,
    incident=st.text(),
    stage=st.sampled_from(Stage),
    deadline_us=_us,
    aware_us=_us,
    at_us=_us,
    state=st.sampled_from(["open", "assessed", "notifying"]),
    required=st.none() | st.booleans(),
)


@settings(max_examples=300, deadline=None)
@given(message=suspensions | deadlines)
def test_kept_facts_decode_back_into_the_same_message(
    message: SuspensionMessage | DeadlineMessage,
) -> None:
    facts = message.facts()
    assert message_from_facts(message.kind, facts) == message


@pytest.mark.parametrize(
    ("kind", "facts"),
    [
        (Kind.SUSPENDED, None),
        (Kind.SUSPENDED, "{"),
        (Kind.SUSPENDED, '{"step": "s"}'),  # a field missing
        (Kind.LIFTED, '{"step": 1, "actor": "a", "at_us": 0, "by": "b", "lifted": true}'),
        (
            Kind.DEADLINE,
            '{"incident": "i", "stage": "12h", "deadline_us": 0, "aware_us": 0, '
            '"at_us": 0, "state": "open"}',
        ),  # fmt: skip
        ("alert", "{}"),  # an alert is read from the store, never from facts
        ("nonsense", "{}"),
    ],
)
def test_facts_that_do_not_decode_are_a_store_error(kind: str, facts: str | None) -> None:
    with pytest.raises(StoreError):
        message_from_facts(kind, facts)
