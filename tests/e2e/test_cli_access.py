"""``sentinelle keys create`` and ``sentinelle users create|list|disable`` as an operator runs
them: the installed script in a real process, on a real store.

A key is printed alone on stdout; a refused key or account writes nothing, not even an audit
entry; a password comes from standard input only and is stored as an argon2id hash, nowhere in
clear; every change lands in the store's audit log with who made it (``--by``).
"""

from __future__ import annotations

import getpass
import json
import os
import subprocess
from pathlib import Path

import pytest
from cli_support import TIMEOUT, Run, console_script

from sentinelle.access import Role
from sentinelle.access.accounts import authenticate_key, check_password
from sentinelle.config import Settings
from sentinelle.store import open_store, sqlite_path

PASSWORD = "correct horse battery staple"  # noqa: S105 - a test account's


def _env(settings: Settings) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SENTINELLE_")}
    env["SENTINELLE_DATA_DIR"] = str(settings.data_dir)
    if settings.database_url:
        env["SENTINELLE_DATABASE_URL"] = settings.database_url
    return env


class Cli:
    """The console script on one store, from an empty working directory."""

    def __init__(self, settings: Settings, work: Path) -> None:
        self.settings = settings
        self.env = _env(settings)
        self.work = work

    def __call__(self, *args: str, stdin: str = "") -> Run:
        proc = subprocess.run(
            [console_script(), *args],
            env=self.env,
            cwd=self.work,
            input=stdin.encode(),
            capture_output=True,
            timeout=TIMEOUT,
            check=False,
        )
        return Run(tuple(args), proc.returncode, proc.stdout.decode(), proc.stderr.decode())


@pytest.fixture
def sqlite(tmp_path: Path) -> Settings:
    return Settings(_env_file=None, data_dir=tmp_path / "data", database_url=None)


def _cli(settings: Settings, tmp_path: Path) -> Cli:
    work = tmp_path / "cwd"
    work.mkdir(exist_ok=True)
    return Cli(settings, work)


@pytest.fixture
def cli(sqlite: Settings, tmp_path: Path) -> Cli:
    return _cli(sqlite, tmp_path)


def _audit(settings: Settings) -> list[tuple[str, str, str, dict[str, object]]]:
    with open_store(settings, create=False) as store:
        return [(a.by, a.action, a.target, json.loads(a.details_json)) for a in store.audit_log()]


def _refused(run: Run, *words: str) -> None:
    """Exit 1, nothing on stdout, a one-line diagnosis naming ``words`` on stderr."""
    run.fails(1)
    assert run.out == "", str(run)
    for word in words:
        assert word in run.err, str(run)


# -- keys --------------------------------------------------------------------------------------


def test_keys_create_prints_only_the_key(cli: Cli) -> None:
    made = cli("keys", "create", "--name", "dashboard", "--role", "reader", "--by", "alice").ok()
    key = made.out.removesuffix("\n")
    assert key.startswith("snl_") and "\n" not in key and key == key.strip(), str(made)
    assert "dashboard" in made.err and key not in made.err
    merchant = cli(
        "keys", "create", "--name", "shop-1", "--role", "merchant", "--merchant", "m-1"
    ).ok()
    bound = merchant.out.removesuffix("\n")
    default = cli("keys", "create", "--name", "shipper").ok().out.removesuffix("\n")
    with open_store(cli.settings, create=False) as store:
        reader = authenticate_key(store, key)
        assert reader is not None
        assert (reader.name, reader.role, reader.merchant) == ("dashboard", Role.READER, None)
        shop = authenticate_key(store, bound)
        assert shop is not None
        assert (shop.role, shop.merchant) == (Role.MERCHANT, "m-1")
        shipper = authenticate_key(store, default)
        assert shipper is not None and shipper.role is Role.INGEST  # the default role
    listed = cli("keys", "list").ok().out
    assert key not in listed and "dashboard\treader\tactive" in listed
    assert "shop-1\tmerchant\tactive\tm-1" in listed


# Each refused ``keys create`` (its arguments) and words its diagnosis must hold.
REFUSED_KEYS: list[tuple[tuple[str, ...], tuple[str, ...]]] = [
    (("--name", "shop", "--role", "merchant"), ("merchant",)),  # a merchant key, unbound
    (("--name", "shop", "--role", "reader", "--merchant", "m-1"), ("merchant", "reader")),
    (("--name", "shop", "--merchant", "m-1"), ("merchant", "ingest")),  # the default role
    (("--name", "shop", "--role", "admin", "--merchant", "m-1"), ("merchant", "admin")),
    (("--name", "bad name"), ("name",)),
    (("--name", "-dash"), ("name",)),
    (("--name", "x" * 65), ("name",)),
    (("--name", "naïve"), ("name",)),
    (("--name", ""), ("name",)),
    (("--name", "shop\n"), ("name",)),  # "$" alone would let a final newline through
    (("--name", "first", "--role", "admin"), ("first",)),  # taken
]


def test_keys_create_refuses(cli: Cli) -> None:
    cli("keys", "create", "--name", "first").ok()  # the store exists: refusals write nothing
    before = _audit(cli.settings)
    for args, words in REFUSED_KEYS:
        _refused(cli("keys", "create", *args), *words)
    with open_store(cli.settings, create=False) as store:
        assert [(k.name, k.role) for k in store.list_api_keys()] == [("first", "ingest")]
    assert _audit(cli.settings) == before


# -- accounts ----------------------------------------------------------------------------------


def test_users_create_list_disable(cli: Cli) -> None:
    made = cli(
        "users",
        "create",
        "Ana@Example.COM",
        "--role",
        "dpo",
        "--password-stdin",
        "--by",
        "root",
        stdin=PASSWORD + "\n",
    ).ok()
    assert "ana@example.com" in made.out
    shop = cli(
        "users", "create", "shop@m1.example", "--role", "merchant", "--merchant", "m-1",
        "--password-stdin", stdin=PASSWORD + "\r\n",
    ).ok()  # fmt: skip
    assert "m-1" in shop.out
    for run in (made, shop):
        assert PASSWORD not in run.out + run.err

    listed = cli("users", "list").ok().out.splitlines()
    assert listed == [
        "ana@example.com\tdpo\t-\tactive\t-",
        "shop@m1.example\tmerchant\tm-1\tactive\t-",
    ]

    with open_store(cli.settings, create=False) as store:
        row = store.user("ana@example.com")
        assert row is not None and row.password_hash.startswith("$argon2id$")
        assert row.created_by == "root"
        # The CR of a CRLF line is not part of the password.
        assert check_password(store, "shop@m1.example", PASSWORD) is not None

    cli("users", "disable", "ANA@example.com", "--by", "root").ok()
    listed = cli("users", "list").ok().out.splitlines()
    assert listed[0].startswith("ana@example.com\tdpo\t-\tdisabled ")
    assert listed[1] == "shop@m1.example\tmerchant\tm-1\tactive\t-"
    with open_store(cli.settings, create=False) as store:
        assert check_password(store, "ana@example.com", PASSWORD) is None
    # Disabled twice: refused, not recorded twice.
    _refused(cli("users", "disable", "ana@example.com"), "ana@example.com")
    _refused(cli("users", "disable", "nobody@example.com"), "nobody@example.com")

    # The password is nowhere in the database's files, only its hash.
    path = sqlite_path(cli.settings)
    assert path is not None and path.exists()
    files = [p for p in cli.settings.data_dir.rglob("*") if p.is_file()]
    assert path in files
    for found in files:
        blob = found.read_bytes()
        assert PASSWORD.encode() not in blob, found
        assert PASSWORD.encode("utf-16-le") not in blob, found


def _create(cli: Cli, email: str, password: str, *extra: str) -> Run:
    return cli(
        "users", "create", email, "--role", "responder", *extra, "--password-stdin",
        stdin=password + "\n",
    )  # fmt: skip


def test_users_create_refuses(cli: Cli) -> None:
    _create(cli, "ana@example.com", PASSWORD).ok()
    before = _audit(cli.settings)
    _refused(_create(cli, "bob@example.com", "short-11chr"), "password", "12")
    _refused(_create(cli, "ANA@example.com ", PASSWORD), "ana@example.com")  # taken, any case
    _refused(_create(cli, "not-an-address", PASSWORD), "email")
    _refused(_create(cli, "bob@example.com", PASSWORD, "--merchant", "m-1"), "merchant")
    _refused(cli("users", "create", "bob@example.com", "--role", "responder", "--password-stdin"))
    merchant = cli(
        "users", "create", "shop@example.com", "--role", "merchant", "--password-stdin",
        stdin=PASSWORD + "\n",
    )  # fmt: skip
    _refused(merchant, "merchant")
    # Not on the command line: without --password-stdin there is no way to give one.
    cli("users", "create", "bob@example.com", "--role", "responder").fails(2)
    # Keys' roles that people do not have.
    cli(
        "users", "create", "bob@example.com", "--role", "ingest", "--password-stdin",
        stdin=PASSWORD + "\n",
    ).fails(2)  # fmt: skip
    with open_store(cli.settings, create=False) as store:
        assert [u.email for u in store.users()] == ["ana@example.com"]
    assert _audit(cli.settings) == before


# -- the audit log -----------------------------------------------------------------------------


def test_each_change_is_in_the_audit_log_with_who(settings: Settings, tmp_path: Path) -> None:
    cli = _cli(settings, tmp_path)
    cli("keys", "create", "--name", "siem", "--role", "reader", "--by", "alice").ok()
    cli("keys", "create", "--name", "shop", "--role", "merchant", "--merchant", "m-1").ok()
    cli("keys", "revoke", "siem", "--by", "bob").ok()
    _create(cli, "Carol@Example.com", PASSWORD, "--by", "carol@example.com").ok()
    cli("users", "disable", "carol@example.com", "--by", "dave").ok()
    _refused(cli("keys", "create", "--name", "bad name", "--by", "mallory"))
    _refused(cli("keys", "revoke", "siem", "--by", "mallory"), "siem")
    try:
        os_user = getpass.getuser()
    except (KeyError, OSError):
        os_user = "unknown"
    assert _audit(settings) == [
        ("alice", "key.created", "siem", {"role": "reader", "merchant": None}),
        (os_user, "key.created", "shop", {"role": "merchant", "merchant": "m-1"}),
        ("bob", "key.revoked", "siem", {}),
        (
            "carol@example.com",
            "user.created",
            "carol@example.com",
            {"role": "responder", "merchant": None},
        ),
        ("dave", "user.disabled", "carol@example.com", {}),
    ]
    with open_store(settings, create=False) as store:
        row = store.user("carol@example.com")
        assert row is not None and row.password_hash.startswith("$argon2id$")
        assert PASSWORD not in row.password_hash
        for entry in store.audit_log():  # no secret in the log either
            assert PASSWORD not in entry.details_json and "snl_" not in entry.details_json


def test_a_password_typed_at_a_terminal_is_not_shown_and_asked_twice(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``users create --password-stdin`` at a terminal: typed without echo, then again; a
    mismatch asks again. Piped, the first line is read as before."""
    from click.testing import CliRunner

    from sentinelle.cli import users as users_cli
    from sentinelle.cli.app import cli_group

    secret = "correct horse battery staple"  # noqa: S105 - a test account's
    monkeypatch.setattr(users_cli, "_at_terminal", lambda: True)
    args = ["--data-dir", str(tmp_path / "d"), "users", "create", "ann@shop.example"]
    args += ["--role", "responder", "--password-stdin"]
    typed = f"{secret}\nsomething else\n{secret}\n{secret}\n"
    result = CliRunner().invoke(cli_group, args, input=typed)
    assert result.exit_code == 0, result.output
    assert secret not in result.output and "Repeat for confirmation" in result.output
    assert "do not match" in result.output  # the first pair differed: asked again
    store = open_store(Settings(_env_file=None, data_dir=tmp_path / "d"))
    try:
        assert check_password(store, "ann@shop.example", secret) is not None
    finally:
        store.close()
