"""``sentinelle users``: people's accounts for the console, each with a role."""

from __future__ import annotations

import sys

import click

from sentinelle.access import USER_ROLES, Role
from sentinelle.access.accounts import MIN_PASSWORD, create_user
from sentinelle.cli.app import App, cli_group, pass_app
from sentinelle.cli.incident import _who
from sentinelle.errors import ConfigError
from sentinelle.timeutil import iso


@cli_group.group()
def users() -> None:
    """Manage people's accounts (passwords are stored as argon2id hashes only)."""


@users.command("create")
@click.argument("email")
@click.option("--role", type=click.Choice([r.value for r in USER_ROLES]), required=True)
@click.option("--merchant", help="The merchant a merchant's account is bound to.")
@click.option(
    "--password-stdin",
    is_flag=True,
    required=True,
    help=f"Read the password (at least {MIN_PASSWORD} characters) from the first line of "
    "standard input: never from the command line, where other users could see it.",
)
@click.option("--by", help="Who creates it (recorded)  [default: the OS user]")
@pass_app
def create(
    app: App, email: str, role: str, merchant: str | None, password_stdin: bool, by: str | None
) -> None:
    """Create the account EMAIL."""
    del password_stdin  # required: the only way to give a password
    line = sys.stdin.readline()
    if not line:
        raise ConfigError("no password on standard input (--password-stdin)")
    row = create_user(
        app.store,
        email=email,
        role=Role(role),
        password=line.rstrip("\r\n"),
        merchant=merchant,
        by=_who(by),
    )
    bound = f" for merchant {row.merchant}" if row.merchant else ""
    click.echo(f"account {row.email} ({row.role}{bound}) created")


@users.command("list")
@pass_app
def list_users(app: App) -> None:
    """List accounts: e-mail, role, merchant, state (never a password hash)."""
    found = app.reader.users()
    if not found:
        click.echo(f"no accounts in {app.location}", err=True)
    for u in found:
        state = f"disabled {iso(u.disabled_us)}" if u.disabled_us else "active"
        click.echo(f"{u.email}\t{u.role}\t{u.merchant or '-'}\t{state}")


@users.command("disable")
@click.argument("email")
@click.option("--by", help="Who disables it (recorded)  [default: the OS user]")
@pass_app
def disable(app: App, email: str, by: str | None) -> None:
    """Disable the account EMAIL (kept, for the record; it can no longer log in)."""
    app.reader.disable_user(email.strip().lower(), by=_who(by))
    click.echo(f"disabled {email.strip().lower()}")
