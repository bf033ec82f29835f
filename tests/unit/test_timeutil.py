"""Times as Sentinelle prints and takes them: RFC 3339 with a four-digit year, and the range
of times it takes from people and clients."""

from __future__ import annotations

import pytest

from sentinelle.timeutil import MAX_US, MIN_US, iso, parse_time, readable


@pytest.mark.parametrize(
    ("text", "printed"),
    [
        ("2026-11-23T10:00:00Z", "2026-11-23T10:00:00Z"),
        ("2026-11-23T11:30:00.25+01:30", "2026-11-23T10:00:00.250000Z"),
        ("2026-11-23", "2026-11-23T00:00:00Z"),
        # strftime's %Y gives "1" for the year 1 on Linux: not RFC 3339
        ("0001-01-02T00:00:00Z", "0001-01-02T00:00:00Z"),
        ("0999-06-01T00:00:00Z", "0999-06-01T00:00:00Z"),
        ("9998-12-31T23:59:59Z", "9998-12-31T23:59:59Z"),
    ],
)
def test_times_print_back_as_rfc_3339(text: str, printed: str) -> None:
    assert iso(parse_time(text)) == printed


def test_readable_times_have_four_digit_years() -> None:
    assert readable(MIN_US) == "0001-01-02 00:00 UTC"
    assert readable(parse_time("2026-12-04T17:22:59Z")) == "2026-12-04 17:22 UTC"


@pytest.mark.parametrize(
    "text",
    [
        "0001-01-01T00:00:00Z",  # before the range
        "0001-01-02T00:00:00+05:00",  # the year 1's first day, in UTC the day before
        "9999-01-01T00:00:00Z",  # the end of the range, excluded
        "9999-12-31T23:59:59-01:00",  # the year 10000 in UTC
    ],
)
def test_times_out_of_range_are_refused_by_name(text: str) -> None:
    with pytest.raises(ValueError, match="out of range") as caught:
        parse_time(text)
    assert text in str(caught.value)


def test_the_range_bounds() -> None:
    assert parse_time("0001-01-02") == MIN_US
    assert parse_time("9998-12-31T23:59:59.999999Z") == MAX_US - 1
    with pytest.raises(ValueError, match="not a time like"):
        parse_time("yesterday")


@pytest.mark.parametrize("text", ["2026-11-23T10:00:00", "2026-11-23 10:00", "2026-11-23T10:00"])
def test_a_time_without_an_offset_is_refused(text: str) -> None:
    # Taken as UTC it would be hours off wherever the operator is not on UTC.
    with pytest.raises(ValueError, match="has no UTC offset: add one, e.g. .*Z"):
        parse_time(text)
