"""The help desks' times (:func:`sentinelle.connectors.base.parse_time`) and the HR feed's
notice dates: RFC 3339 or epoch milliseconds in UTC, and a time Sentinelle cannot hold (out of
``TIME_RANGE``) refused naming the field, never an overflow."""

from __future__ import annotations

import datetime as dt

import pytest

from sentinelle.connectors.base import MappingError, parse_time
from sentinelle.connectors.hr import notices
from sentinelle.errors import ValidationError

NOW = dt.datetime(2026, 11, 5, 10, 0, tzinfo=dt.UTC)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("2026-11-05T10:00:00.123456789Z", dt.datetime(2026, 11, 5, 10, 0, 0, 123456, dt.UTC)),
        ("2026-11-05T11:00:00+0100", dt.datetime(2026, 11, 5, 10, 0, tzinfo=dt.UTC)),
        (1_793_872_800_000, dt.datetime(2026, 11, 5, 10, 0, tzinfo=dt.UTC)),
    ],
)
def test_times_in_utc(value: object, expected: dt.datetime) -> None:
    assert parse_time(value, "time") == expected


@pytest.mark.parametrize(
    "value",
    [
        "0001-01-01T00:00:00+01:00",  # before year 1 in UTC: astimezone overflowed
        "9999-12-31T23:59:59-01:00",  # after year 9999 in UTC
        "9999-06-01T00:00:00Z",  # a date, but beyond what Sentinelle holds
        99_999_999_999_999_999,  # epoch milliseconds: year 3170843
        -99_999_999_999_999,  # year -1199
    ],
)
def test_a_time_out_of_range_is_refused_naming_the_field(value: object) -> None:
    with pytest.raises(MappingError) as refused:
        parse_time(value, "detail.time")
    assert refused.value.path == "detail.time"
    assert "out of range" in refused.value.message


def test_a_gorgias_time_without_offset_is_checked_too() -> None:
    with pytest.raises(MappingError, match="out of range"):
        parse_time("0001-01-01T00:00:00", "ticket.created_datetime", naive_is_utc=True)


def test_a_notice_date_out_of_range_is_a_problem_of_its_row() -> None:
    rows = [
        (2, {"staff": "ana", "notice_date": "0001-01-01T00:00:00+01:00"}),
        (3, {"staff": "bo", "notice_date": "0001-01-01"}),
        (4, {"staff": "cid", "notice_date": "2026-11-04"}),
    ]
    with pytest.raises(ValidationError) as refused:
        notices(rows, now=NOW, unit="line")
    problems = [(p.location, p.path) for p in refused.value.problems]
    assert problems == [(2, "notice_date"), (3, "notice_date")]
    assert all("out of range" in p.message for p in refused.value.problems)
