"""``sentinelle ledger``: checkpoints, proofs and verification."""

from __future__ import annotations

import json
from pathlib import Path

import click

from sentinelle.cli.app import App, cli_group, pass_app


@cli_group.group()
def ledger() -> None:
    """The tamper-evident ledger of every stored event (RFC 9162, C2SP checkpoints)."""


@ledger.command()
@pass_app
def checkpoint(app: App) -> None:
    """Sign, record and print a checkpoint of the current tree."""
    click.echo(app.ledger.checkpoint().note, nl=False)


@ledger.command()
@pass_app
def key(app: App) -> None:
    """Print the verifier key of the checkpoint signatures (C2SP signed-note form)."""
    click.echo(app.ledger.key.verifier_key())


@ledger.command()
@click.argument("event_id")
@click.option("--size", type=click.IntRange(min=1), help="Tree size [default: latest checkpoint].")
@click.option("--json", "as_json", is_flag=True, help="Print as JSON.")
@pass_app
def proof(app: App, event_id: str, size: int | None, as_json: bool) -> None:
    """Print the inclusion proof of EVENT_ID (RFC 9162 §2.1.3)."""
    result = app.ledger.proof(event_id, size)
    if as_json:
        click.echo(json.dumps(result))
        return
    click.echo(f"event {event_id} is leaf {result['leaf_index']} of {result['tree_size']}")
    click.echo(f"root {result['root_hash']}")
    for h in result["inclusion_path"]:
        click.echo(f"  {h}")


@ledger.command()
@click.argument("old_size", type=click.IntRange(min=1))
@click.argument("new_size", type=click.IntRange(min=1), required=False)
@click.option("--json", "as_json", is_flag=True, help="Print as JSON.")
@pass_app
def consistency(app: App, old_size: int, new_size: int | None, as_json: bool) -> None:
    """Print the proof that OLD_SIZE is a prefix of NEW_SIZE [default: latest checkpoint]."""
    result = app.ledger.consistency(old_size, new_size)
    if as_json:
        click.echo(json.dumps(result))
        return
    click.echo(
        f"{result['old_size']} → {result['new_size']}: {result['old_root']} → {result['new_root']}"
    )
    for h in result["proof"]:
        click.echo(f"  {h}")


@ledger.command()
@click.option(
    "--checkpoint",
    "notes",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    multiple=True,
    help="Also check a checkpoint note kept elsewhere (repeatable).",
)
@pass_app
def verify(app: App, notes: tuple[Path, ...]) -> None:
    """Recompute every leaf, the tree and every checkpoint; exit 1 at the first mismatch."""
    report = app.ledger.verify()
    for path in notes:
        app.ledger.check_note(path.read_text(encoding="utf-8"))
    click.echo(
        f"ledger OK: {report.leaves} leaves, {report.tiles} tiles, "
        f"{report.checkpoints + len(notes)} checkpoints; root {report.root.hex()}"
    )
