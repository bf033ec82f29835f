"""SCIM filters and PATCH paths (RFC 7644 §3.4.2.2, §3.5.2), table-driven: what matches which
user, and what is refused with which reason."""

from __future__ import annotations

from typing import Any

import pytest

from sentinelle.connectors.scim import FilterError, matches, parse_filter, parse_path

ANA: dict[str, Any] = {
    "id": "a1",
    "username": "Ana@Shop.Example",
    "externalid": "00uABC",
    "active": True,
    "title": "Support Agent",
    "department": "Care",
    "groups": [{"value": "g1", "display": "Tier 1"}, {"value": "g2", "display": "EU"}],
    "meta": {"created": "2026-11-01T10:00:00.000Z", "lastmodified": "2026-11-03T08:00:00.000Z"},
}


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('userName eq "ana@shop.example"', True),  # caseExact false
        ('USERNAME EQ "ana@shop.example"', True),  # names and operators too
        ('externalId eq "00uabc"', False),  # caseExact true
        ('externalId eq "00uABC"', True),
        ('urn:ietf:params:scim:schemas:core:2.0:User:userName sw "ana@"', True),
        ('userName ew ".example" and userName co "@shop"', True),
        ('userName ne "ana@shop.example"', False),
        ("active eq true", True),
        ("active eq false", False),
        ("not (active eq false) and title pr", True),
        ("nickName pr", False),  # not kept: no value
        ("nickName eq null", True),
        ('emails[type eq "work"]', False),
        ('urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department eq "care"', True),
        ('department eq "Care"', True),
        ('groups[display eq "tier 1" and value eq "g1"]', True),
        ('groups eq "g2"', True),  # a multi-valued attribute stands for its values
        ('groups.display eq "EU"', True),
        ('meta.lastModified gt "2026-11-02T00:00:00Z"', True),
        ('meta.created ge "2026-11-01T11:00:00+01:00"', True),
        ('meta.created lt "2026-11-01T10:00:00Z"', False),
        ('title eq "x" or (userName sw "ana" and not (department eq "Fraud"))', True),
        ('title eq "x" or userName sw "bob" and active eq true', False),  # and binds tighter
    ],
)
def test_filters_match_as_the_rfc_says(text: str, expected: bool) -> None:
    assert matches(parse_filter(text, "User"), ANA) is expected


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("", "empty"),
        ("userName eq", "ends too early"),
        ('userName eq "a" and', "ends too early"),
        ("userName eq ana", "expected a value"),
        ('userName equals "a"', "expected an operator"),
        ('shoeSize eq "9"', "no attribute 'shoeSize'"),
        ('name.nick eq "a"', "no sub-attribute 'nick'"),
        ('userName[value eq "a"]', "not a multi-valued attribute"),
        ('emails[type eq "work"', "expected ']'"),
        ('(userName eq "a"', "expected ')'"),
        ('userName eq "a")', "unexpected ')'"),
        ("active gt true", "gt cannot compare"),
        ("userName co 3", "co needs a string"),
        ('meta.created gt "yesterday"', "not an RFC 3339 time"),
        ('emails[value co "a" and groups[value eq "b"]]', "no sub-attribute"),
        ('userName eq "unterminated', "unexpected"),
        ('not userName eq "a"', "expected '('"),
        ("(" * 40 + 'userName eq "a"' + ")" * 40, "nested more than"),
        ('userName eq "' + "a" * 5000 + '"', "longer than"),
    ],
)
def test_bad_filters_are_refused_with_the_reason(text: str, reason: str) -> None:
    with pytest.raises(
        FilterError, match=reason.replace("(", r"\(").replace(")", r"\)").replace("[", r"\[")
    ):
        parse_filter(text, "User")


def test_group_filters_and_paths() -> None:
    group = {"displayname": "SG-Fraud", "members": [{"value": "u1", "type": "User"}]}
    assert matches(parse_filter('displayName eq "sg-fraud"', "Group"), group)
    assert matches(parse_filter('members[value eq "u1"]', "Group"), group)
    with pytest.raises(FilterError, match="no attribute 'userName'"):
        parse_filter('userName eq "a"', "Group")
    path = parse_path('members[value eq "u1"]', "Group")
    assert path.path.attribute.name == "members" and path.filter is not None
    email = parse_path('emails[type eq "work"].value', "User")
    assert email.child is not None and email.child.name == "value"
    ext = parse_path("urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager", "User")
    assert ext.path.attribute.name == "manager"
    with pytest.raises(FilterError, match="no sub-attribute 'nope'"):
        parse_path('emails[type eq "work"].nope', "User")
    with pytest.raises(FilterError, match="unexpected"):
        parse_path("active extra", "User")
