"""Accounts and the permission check in-process, on a real (SQLite) store: who
:func:`check_password` lets in, what a key authenticates as, and what :func:`authorize`
refuses."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from sentinelle.access import (
    GRANTS,
    USER_ROLES,
    ForbiddenError,
    Permission,
    Principal,
    Role,
    authorize,
    roles_with,
)
from sentinelle.access.accounts import (
    MIN_PASSWORD,
    AccountInputError,
    authenticate_key,
    check_password,
    create_key,
    create_user,
)
from sentinelle.config import Settings
from sentinelle.store import Store, open_store

PASSWORD = "correct horse battery staple"  # noqa: S105 - a test account's


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    opened = open_store(Settings(_env_file=None, data_dir=tmp_path / "data", database_url=None))
    try:
        yield opened
    finally:
        opened.close()


# -- check_password ----------------------------------------------------------------------------


def test_the_right_password_gives_the_principal(store: Store) -> None:
    create_user(store, email="Ana@Example.com", role=Role.DPO, password=PASSWORD, by="root")
    for email in ("ana@example.com", "ANA@example.COM", " ana@example.com "):
        assert check_password(store, email, PASSWORD) == Principal(
            "user", "ana@example.com", Role.DPO, None
        )
    shop = create_user(
        store,
        email="shop@m1.example",
        role=Role.MERCHANT,
        merchant="m-1",
        password=PASSWORD,
        by="root",
    )
    found = check_password(store, shop.email, PASSWORD)
    assert found is not None and (found.role, found.merchant) == (Role.MERCHANT, "m-1")
    assert found.label == "shop@m1.example"


@pytest.mark.parametrize(
    "presented",
    ["", PASSWORD.upper(), PASSWORD[:-1], PASSWORD + " ", " " + PASSWORD, PASSWORD + "\n"],
    ids=["empty", "case", "shorter", "trailing-space", "leading-space", "newline"],
)
def test_a_wrong_password_gives_none(store: Store, presented: str) -> None:
    create_user(store, email="ana@example.com", role=Role.DPO, password=PASSWORD, by="root")
    assert check_password(store, "ana@example.com", presented) is None


def test_a_password_longer_than_any_account_may_have_never_matches(store: Store) -> None:
    # Only the first 1024 characters are hashed: the right one followed by more is wrong.
    longest = "p" * 1024
    create_user(store, email="ana@example.com", role=Role.DPO, password=longest, by="root")
    assert check_password(store, "ana@example.com", longest) is not None
    assert check_password(store, "ana@example.com", longest + "x") is None
    with pytest.raises(AccountInputError, match="password"):
        create_user(store, email="bob@example.com", role=Role.DPO, password=longest + "x", by="r")


def test_a_disabled_account_gives_none(store: Store) -> None:
    create_user(store, email="ana@example.com", role=Role.DPO, password=PASSWORD, by="root")
    store.disable_user("ana@example.com", by="root")
    assert check_password(store, "ana@example.com", PASSWORD) is None


def test_an_unknown_email_gives_none(store: Store) -> None:
    create_user(store, email="ana@example.com", role=Role.DPO, password=PASSWORD, by="root")
    assert check_password(store, "bob@example.com", PASSWORD) is None
    assert check_password(store, "", PASSWORD) is None


def test_the_stored_hash_is_argon2id_and_salted(store: Store) -> None:
    a = create_user(store, email="a@example.com", role=Role.AUDITOR, password=PASSWORD, by="r")
    b = create_user(store, email="b@example.com", role=Role.AUDITOR, password=PASSWORD, by="r")
    assert a.password_hash.startswith("$argon2id$") and PASSWORD not in a.password_hash
    assert a.password_hash != b.password_hash  # a salt of its own


def test_short_passwords_and_key_roles_are_refused(store: Store) -> None:
    with pytest.raises(AccountInputError, match="password"):
        create_user(
            store, email="a@example.com", role=Role.DPO, password="x" * (MIN_PASSWORD - 1), by="r"
        )
    for role in set(Role) - set(USER_ROLES):
        with pytest.raises(AccountInputError, match="role"):
            create_user(store, email="a@example.com", role=role, password=PASSWORD, by="r")
    assert store.users() == [] and store.audit_log() == []


# -- keys --------------------------------------------------------------------------------------


def test_a_key_authenticates_as_its_role_until_revoked(store: Store) -> None:
    key = create_key(store, name="shop", role=Role.MERCHANT, merchant="m-1", by="root")
    assert authenticate_key(store, key) == Principal("key", "shop", Role.MERCHANT, "m-1")
    assert authenticate_key(store, key[:-1]) is None
    assert authenticate_key(store, key.removeprefix("snl_")) is None
    store.revoke_api_key("shop", by="root")
    assert authenticate_key(store, key) is None


@pytest.mark.parametrize(
    "name", ["", "shop\n", "shop\r", "\nshop", "sh op", "-shop", "x" * 65, "shöp", "a/b"]
)
def test_a_bad_key_name_is_refused(store: Store, name: str) -> None:
    with pytest.raises(AccountInputError, match="name"):
        create_key(store, name=name, by="root")
    assert store.list_api_keys() == [] and store.audit_log() == []


def test_a_good_key_name_is_kept(store: Store) -> None:
    for name in ("a", "shop-1", "siem.prod_2", "9" + "x" * 63):
        create_key(store, name=name, by="root")
    assert [k.name for k in store.list_api_keys()] == ["a", "shop-1", "siem.prod_2", "9" + "x" * 63]


# -- authorize ---------------------------------------------------------------------------------


@pytest.mark.parametrize("role", list(Role), ids=str)
def test_authorize_follows_the_grants(role: Role) -> None:
    merchant = "m-1" if role is Role.MERCHANT else None
    who = Principal("key", "k", role, merchant)
    for permission in Permission:
        if permission in GRANTS[role]:
            authorize(who, permission, merchant=merchant)
            assert role in roles_with(permission)
        else:
            with pytest.raises(ForbiddenError, match=role.value):
                authorize(who, permission, merchant=merchant)
            assert role not in roles_with(permission)


def test_a_merchant_reaches_only_its_own_merchant() -> None:
    shop = Principal("key", "shop", Role.MERCHANT, "m-1")
    authorize(shop, Permission.MERCHANT_ACCESSES, merchant="m-1")
    for other in ("m-2", "M-1", "m-1 ", "", None):
        with pytest.raises(ForbiddenError, match="own merchant"):
            authorize(shop, Permission.MERCHANT_ACCESSES, merchant=other)
    # Other roles with the permission read any merchant's.
    for role in roles_with(Permission.MERCHANT_ACCESSES) - {Role.MERCHANT}:
        authorize(Principal("key", "k", role), Permission.MERCHANT_ACCESSES, merchant="m-2")


def test_read_only_roles_change_nothing() -> None:
    changes = {Permission.EVENTS_WRITE, Permission.INCIDENTS_WRITE, Permission.INCIDENTS_DECIDE}
    changes |= {Permission.ADMIN}
    for role in (Role.AUDITOR, Role.READER, Role.MERCHANT):
        assert not GRANTS[role] & changes, role
    assert roles_with(Permission.ADMIN) == {Role.ADMIN}
    assert roles_with(Permission.INCIDENTS_DECIDE) == {Role.ADMIN, Role.DPO}


def test_an_unknown_email_is_checked_against_a_hash_as_costly_as_a_real_one() -> None:
    # The constant hash must have the hasher's current parameters, or an unknown e-mail's
    # answer would come faster (or slower) than a known one's.
    from sentinelle.access import accounts

    assert not accounts._hasher.check_needs_rehash(accounts._DUMMY)
    assert accounts._hasher.hash("x").split("$")[1:4] == accounts._DUMMY.split("$")[1:4]
