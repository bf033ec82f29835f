"""``sentinelle keys``: API keys for ``sentinelle serve``, each with a role."""

from __future__ import annotations

import click

from sentinelle.access import KEY_ROLES, Role
from sentinelle.access.accounts import create_key
from sentinelle.cli.app import App, cli_group, pass_app
from sentinelle.cli.incident import _who


@cli_group.group()
def keys() -> None:
    """Manage API keys (only a hash of each key is stored)."""


@keys.command("create")
@click.option("--name", required=True, help="Who or what uses the key, e.g. support-console.")
@click.option(
    "--role",
    type=click.Choice([r.value for r in KEY_ROLES]),
    default=Role.INGEST.value,
    show_default=True,
    help="What the key may do: ingest sends events only; reader reads; responder, dpo, "
    "auditor and admin as the people's roles; merchant reads one merchant's accesses and "
    "approves its grants; guard asks for access decisions (POST /v1/access/decide); scim "
    "is an identity provider provisioning staff (/scim/v2).",
)
@click.option("--merchant", help="The merchant a merchant key is bound to.")
@click.option("--by", help="Who creates it (recorded)  [default: the OS user]")
@pass_app
def create(app: App, name: str, role: str, merchant: str | None, by: str | None) -> None:
    """Create a key and print it on stdout, once: it cannot be shown again."""
    key = create_key(app.store, name=name, role=Role(role), merchant=merchant, by=_who(by))
    click.echo(key)
    bound = f" for merchant {merchant}" if merchant else ""
    click.echo(
        f"API key {name!r} ({role}{bound}) created. Send it as 'Authorization: Bearer <key>'. "
        "It is not stored and cannot be shown again.",
        err=True,
    )


@keys.command("list")
@pass_app
def list_keys(app: App) -> None:
    """List key names and state (never the keys)."""
    found = app.reader.list_api_keys()
    if not found:
        click.echo(f"no API keys in {app.location}", err=True)
    for k in found:
        bound = f"\t{k.merchant}" if k.merchant else ""
        click.echo(f"{k.name}\t{k.role}\t{'revoked' if k.revoked_us else 'active'}{bound}")


@keys.command("revoke")
@click.argument("name")
@click.option("--by", help="Who revokes it (recorded)  [default: the OS user]")
@pass_app
def revoke(app: App, name: str, by: str | None) -> None:
    """Revoke the key called NAME."""
    app.reader.revoke_api_key(name, by=_who(by))
    click.echo(f"revoked {name}")
