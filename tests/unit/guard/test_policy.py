"""The guard policy: the example validates; every problem names its key path (and line);
unknown keys are refused; caps are enforced, not clipped."""

from __future__ import annotations

from pathlib import Path

import pytest

from sentinelle.errors import ConfigError
from sentinelle.guard.policy import (
    BUILTIN_PURPOSES,
    MAX_GRANT_HOURS,
    PolicyError,
    load_policy,
    parse_policy,
)
from sentinelle.timeutil import HOUR, MINUTE

EXAMPLE = Path(__file__).parents[3] / "conf" / "guard.example.toml"

MINIMAL = """
[teams.tier1]
actions = ["view", "search"]
channels = ["support_console"]
categories = ["contact", "address", "order_details"]
"""


def problems(text: str) -> list[tuple[int, str, str]]:
    with pytest.raises(PolicyError) as caught:
        parse_policy(text, source="p.toml")
    return caught.value.problems


def one_problem(text: str) -> tuple[int, str, str]:
    found = problems(text)
    assert len(found) == 1, found
    return found[0]


def test_the_example_validates_with_what_it_documents() -> None:
    policy = load_policy(EXAMPLE)
    assert set(policy.teams) == {"tier1", "tier2", "trust_safety"}
    lead = policy.access_of("tier1", "lead")
    assert lead is not None and "export" in lead.actions and lead.review_tickets
    # a role replaces only what it gives
    assert lead.channels == policy.teams["tier1"].access.channels
    assert policy.access_of("tier1", "unknown-role") == policy.teams["tier1"].access
    assert policy.access_of("nobody", None) is None
    assert policy.grant_us == 8 * HOUR
    assert policy.break_glass.duration_us == 60 * MINUTE
    assert "warranty_claim" in policy.purposes and "shipping_question" in policy.purposes
    rule = policy.merchant("m-7")
    assert rule.approve_views and rule.mask == {"payment_partial"}
    assert policy.approvers_for("m-7") == ("merchant", "staff")
    assert policy.approvers_for("m-1") == ("merchant",)
    assert policy.grant_duration_us("m-7") == 2 * HOUR
    assert policy.fail_mode("view", 1) == "open"
    assert policy.fail_mode("view", 10) == "closed"  # a bulk list fails closed
    assert policy.fail_mode("export", 1) == "closed"


def test_defaults_of_a_minimal_policy() -> None:
    policy = parse_policy(MINIMAL)
    assert policy.default_purpose == "general"
    assert dict(policy.purposes) == dict(BUILTIN_PURPOSES)
    assert policy.grant_us == 8 * HOUR
    assert policy.max_grant_us == MAX_GRANT_HOURS * HOUR
    assert policy.approval.actions == {"export", "download"}
    assert policy.approval.bulk_records == 10
    assert policy.approval.approvers == ("merchant",)
    assert policy.break_glass.enabled and policy.break_glass.duration_us == HOUR
    assert policy.ticket_pattern.fullmatch("T-42") and not policy.ticket_pattern.fullmatch("42")
    assert policy.unreachable["export"] == "closed" and policy.unreachable["view"] == "open"
    assert policy.unreachable["bulk_list"] == "closed"


def test_a_misspelt_action_is_named_by_key_path_index_and_line() -> None:
    text = MINIMAL.replace('["view", "search"]', '["view", "search", "exprot"]')
    line, path, message = one_problem(text)
    assert path == "teams.tier1.actions[2]"
    assert message == ('"exprot" is not an action (view, search, export, download, update, delete)')
    assert line == 3
    with pytest.raises(PolicyError) as caught:
        parse_policy(text, source="p.toml")
    assert 'line 3: teams.tier1.actions[2]: "exprot" is not an action' in str(caught.value)
    assert str(caught.value).startswith("invalid guard policy p.toml:")


@pytest.mark.parametrize(
    ("extra", "path", "words"),
    [
        ("[defaults]\ncolour = 1\n", "defaults.colour", "unknown key"),
        ("[unknown_table]\n", "unknown_table", "unknown key"),
        ("[teams.tier1.roles.lead]\nflavour = 1\n", "teams.tier1.roles.lead.flavour", "unknown"),
        ("[defaults]\ngrant_hours = 400\n", "defaults.grant_hours", "out of bounds"),
        ("[defaults]\ngrant_hours = 0\n", "defaults.grant_hours", "above 0"),
        ("[defaults]\ngrant_hours = '8h'\n", "defaults.grant_hours", "must be a number"),
        ("[defaults]\nmax_grant_hours = 337\n", "defaults.max_grant_hours", "at most 336"),
        ("[defaults]\npurpose = 'gossip'\n", "defaults.purpose", '"gossip" is not a purpose'),
        ("[defaults]\nticket_pattern = 'T-(['\n", "defaults.ticket_pattern", "regular expr"),
        ("[defaults]\nticket_pattern = 'T?-*'\n", "defaults.ticket_pattern", "empty string"),
        ("[purposes.x]\nshow = ['mood']\n", "purposes.x.show[0]", '"mood" is not a data'),
        ("[purposes.x]\ndescription = 'no show'\n", "purposes.x", 'needs "show"'),
        ("[purposes.Bad-Name]\nshow = ['contact']\n", "purposes.Bad-Name", "lower case"),
        ("[approval]\nactions = ['exprot']\n", "approval.actions[0]", '"exprot" is not an'),
        ("[approval]\nbulk_records = 1\n", "approval.bulk_records", "from 2 to"),
        ("[approval]\napprovers = []\n", "approval.approvers", "at least one"),
        ("[approval]\napprovers = ['boss']\n", "approval.approvers[0]", '"boss" is not an'),
        ("[break_glass]\nminutes = 481\n", "break_glass.minutes", "at most 480"),
        ("[break_glass]\nenabled = 'yes'\n", "break_glass.enabled", "true or false"),
        ("[break_glass]\nmin_reason = 0\n", "break_glass.min_reason", "from 1 to 200"),
        ("[merchants.m-7]\nmask = ['mood']\n", "merchants.m-7.mask[0]", "not a data category"),
        ("[merchants.m-7]\ngrant_hours = 337\n", "merchants.m-7.grant_hours", "at most"),
        ("[merchants.m-7]\napprove_all = true\n", "merchants.m-7.approve_all", "unknown key"),
        ("[unreachable]\nview = 'maybe'\n", "unreachable.view", 'not "open" or "closed"'),
        ("[unreachable]\nexport = 'open'\n", "unreachable.export", 'must be "closed"'),
        ("[unreachable]\nbulk_list = 'open'\n", "unreachable.bulk_list", "needs approval"),
        ("[unreachable]\ncolour = 'open'\n", "unreachable.colour", "unknown key"),
        ("[response]\nsuspend_at = 'severe'\n", "response.suspend_at", "high, critical, or"),
        ("[response]\nsuspend_at = 3\n", "response.suspend_at", "is not a severity"),
    ],
)
def test_each_problem_names_its_key(extra: str, path: str, words: str) -> None:
    line, found_path, message = one_problem(MINIMAL + extra)
    assert found_path == path
    assert words in message
    assert line > 0  # every one of these is found in the file


def test_team_keys_are_checked() -> None:
    text = """
[teams.tier1]
actions = ["view"]
channels = ["phone"]
categories = "contact"
purposes = ["gossip"]
review_tickets = 1
"""
    found = {p: m for _, p, m in problems(text)}
    assert '"phone" is not a channel' in found["teams.tier1.channels[0]"]
    assert found["teams.tier1.categories"] == (
        'must be a list of data categories, not the string "contact"'
    )
    assert '"gossip" is not a purpose' in found["teams.tier1.purposes[0]"]
    assert "true or false" in found["teams.tier1.review_tickets"]


def test_a_team_needs_its_three_lists_and_a_policy_needs_a_team() -> None:
    found = problems("[teams.tier1]\nactions = ['view']\n")
    assert {p for _, p, _ in found} == {"teams.tier1.channels", "teams.tier1.categories"}
    assert all("required" in m for _, _, m in found)
    _, path, message = one_problem("[defaults]\ngrant_hours = 4\n")
    assert path == "teams" and "no team" in message


def test_a_policy_below_the_cap_narrows_what_overrides_may_ask() -> None:
    text = MINIMAL + "[defaults]\nmax_grant_hours = 24\n[merchants.m-1]\ngrant_hours = 48\n"
    _, path, message = one_problem(text)
    assert path == "merchants.m-1.grant_hours" and "at most 24" in message
    text = MINIMAL + "[defaults]\nmax_grant_hours = 24\ngrant_hours = 25\n"
    assert one_problem(text)[1] == "defaults.grant_hours"


def test_every_problem_is_reported_at_once_in_file_order() -> None:
    text = MINIMAL + "[defaults]\ncolour = 1\ngrant_hours = 999\n[break_glass]\nminutes = 0\n"
    found = problems(text)
    assert [p for _, p, _ in found] == [
        "defaults.colour",
        "defaults.grant_hours",
        "break_glass.minutes",
    ]
    assert [line for line, _, _ in found] == sorted(line for line, _, _ in found)


def test_a_purpose_may_be_redefined_and_quoted_keys_are_found() -> None:
    text = MINIMAL + '[purposes.refund]\nshow = ["order_details"]\n'
    assert parse_policy(text).purposes["refund"].show == {"order_details"}
    text = MINIMAL + '[merchants."shop.example"]\nmask = ["kitten"]\n'
    line, path, _ = one_problem(text)
    assert path == 'merchants."shop.example".mask[0]'
    assert line == MINIMAL.count("\n") + 2


def test_unreadable_or_non_toml_files_are_config_errors(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read guard policy .*missing.toml"):
        load_policy(tmp_path / "missing.toml")
    bad = tmp_path / "bad.toml"
    bad.write_text("[teams\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="cannot read guard policy .*bad.toml"):
        load_policy(bad)
    binary = tmp_path / "binary.toml"
    binary.write_bytes(b"\xff\xfe\x00")
    with pytest.raises(ConfigError, match="not UTF-8"):
        load_policy(binary)


def test_response_suspend_at_is_a_severity_or_never() -> None:
    assert parse_policy(MINIMAL).response.suspend_at == 3  # high
    for level, value in (("low", 1), ("medium", 2), ("critical", 4), ("never", None)):
        policy = parse_policy(MINIMAL + f"[response]\nsuspend_at = '{level}'\n")
        assert policy.response.suspend_at == value
