"""``sentinelle keys``: API keys for ``sentinelle serve``."""

from __future__ import annotations

import click

from sentinelle.api.auth import new_api_key
from sentinelle.cli.app import App, cli_group, pass_app


@cli_group.group()
def keys() -> None:
    """Manage API keys (only a hash of each key is stored)."""


@keys.command("create")
@click.option("--name", required=True, help="Who or what uses the key, e.g. support-console.")
@pass_app
def create(app: App, name: str) -> None:
    """Create a key and print it, once: it cannot be shown again."""
    key = new_api_key(app.store, name=name)
    click.echo(key)
    click.echo(
        f"API key {name!r} created. Send it as 'Authorization: Bearer <key>'. "
        "It is not stored and cannot be shown again.",
        err=True,
    )


@keys.command("list")
@pass_app
def list_keys(app: App) -> None:
    """List key names and state (never the keys)."""
    for k in app.store.list_api_keys():
        click.echo(f"{k.name}\t{'revoked' if k.revoked_us else 'active'}")


@keys.command("revoke")
@click.argument("name")
@pass_app
def revoke(app: App, name: str) -> None:
    """Revoke the key called NAME."""
    app.store.revoke_api_key(name)
    click.echo(f"revoked {name}")
