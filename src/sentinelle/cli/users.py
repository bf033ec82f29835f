"""``sentinelle users``: people's accounts for the console, each with a role, and their
optional second factor (``sentinelle users totp enable|disable``)."""

from __future__ import annotations

import sys

import click

from sentinelle.access import USER_ROLES, Role
from sentinelle.access.accounts import MIN_PASSWORD, AccountInputError, create_user
from sentinelle.access.totp import begin_enrolment, confirm_enrolment, disable_totp
from sentinelle.cli.app import App, cli_group, pass_app
from sentinelle.cli.incident import _who
from sentinelle.errors import ConfigError, Problem
from sentinelle.timeutil import iso, now_us

_CODE_TRIES = 3


@cli_group.group()
def users() -> None:
    """Manage people's accounts (passwords are stored as argon2id hashes only)."""


def _at_terminal() -> bool:
    """Whether standard input is a terminal (someone typing the password)."""
    return sys.stdin.isatty()


@users.command("create")
@click.argument("email")
@click.option("--role", type=click.Choice([r.value for r in USER_ROLES]), required=True)
@click.option("--merchant", help="The merchant a merchant's account is bound to.")
@click.option(
    "--password-stdin",
    is_flag=True,
    required=True,
    help=f"Read the password (at least {MIN_PASSWORD} characters) from the first line of "
    "standard input: never from the command line, where other users could see it. At a "
    "terminal it is typed twice, not shown.",
)
@click.option("--by", help="Who creates it (recorded)  [default: the OS user]")
@pass_app
def create(
    app: App, email: str, role: str, merchant: str | None, password_stdin: bool, by: str | None
) -> None:
    """Create the account EMAIL."""
    del password_stdin  # required: the only way to give a password
    if _at_terminal():  # typed: not echoed, and twice, as passwd does
        password = click.prompt("Password", hide_input=True, confirmation_prompt=True, err=True)
    else:
        line = sys.stdin.readline()
        if not line:
            raise ConfigError("no password on standard input (--password-stdin)")
        password = line.rstrip("\r\n")
    row = create_user(
        app.store,
        email=email,
        role=Role(role),
        password=password,
        merchant=merchant,
        by=_who(by),
    )
    bound = f" for merchant {row.merchant}" if row.merchant else ""
    click.echo(f"account {row.email} ({row.role}{bound}) created")


@users.command("list")
@pass_app
def list_users(app: App) -> None:
    """List accounts: e-mail, role, merchant, state, and 'totp' for those with a second
    factor ('-' without); never a password hash or a secret."""
    found = app.reader.users()
    if not found:
        click.echo(f"no accounts in {app.location}", err=True)
    totp = app.reader.totp_emails()
    for u in found:
        state = f"disabled {iso(u.disabled_us)}" if u.disabled_us else "active"
        factor = "totp" if u.email in totp else "-"
        click.echo(f"{u.email}\t{u.role}\t{u.merchant or '-'}\t{state}\t{factor}")


@users.command("disable")
@click.argument("email")
@click.option("--by", help="Who disables it (recorded)  [default: the OS user]")
@pass_app
def disable(app: App, email: str, by: str | None) -> None:
    """Disable the account EMAIL (kept, for the record; it can no longer log in)."""
    app.reader.disable_user(email.strip().lower(), by=_who(by))
    click.echo(f"disabled {email.strip().lower()}")


@users.group("totp")
def totp() -> None:
    """The optional second factor of an account: a TOTP authenticator app (RFC 6238)."""


@totp.command("enable")
@click.argument("email")
@click.option(
    "--code-stdin",
    is_flag=True,
    help="Read the confirming code from standard input (one line per try) instead of a prompt.",
)
@click.option("--by", help="Who enrols it (recorded)  [default: the OS user]")
@pass_app
def totp_enable(app: App, email: str, code_stdin: bool, by: str | None) -> None:
    """Enrol EMAIL's authenticator app: print its otpauth:// URI and secret (standard output,
    this once), then store the secret when a current code from the app is typed back."""
    enrolment = begin_enrolment(app.reader, email)
    click.echo(enrolment.uri)
    click.echo(enrolment.secret)
    click.echo(
        f"Give the URI above (as a QR code) or the secret to {enrolment.email}'s authenticator "
        "app, then type the 6-digit code it shows; nothing is stored until a code matches.",
        err=True,
    )
    for _ in range(_CODE_TRIES):
        if code_stdin:
            line = sys.stdin.readline()
            if not line:
                break
            code = line.strip()
        else:
            code = click.prompt("Code", err=True)
        if confirm_enrolment(
            app.reader,
            enrolment,
            code,
            data_dir=app.settings.data_dir,
            now_us=now_us(),
            by=_who(by),
        ):
            click.echo(f"TOTP enabled for {enrolment.email}", err=True)
            return
        click.echo("not a current code of this secret", err=True)
    raise AccountInputError(
        [Problem(0, "code", "no current code was given: TOTP not enabled, nothing stored")],
        unit="field",
    )


@totp.command("disable")
@click.argument("email")
@click.option("--by", help="Who disables it (recorded)  [default: the OS user]")
@pass_app
def totp_disable(app: App, email: str, by: str | None) -> None:
    """Remove EMAIL's second factor (a lost phone): it logs in with its password alone, unless
    its role is in SENTINELLE_TOTP_REQUIRED_ROLES, until enrolled again."""
    disable_totp(app.reader, email, by=_who(by))
    click.echo(f"TOTP disabled for {email.strip().lower()}")
