"""``sentinelle ledger``: checkpoints, proofs and verification."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from sentinelle.cli.app import App, cli_group, pass_app
from sentinelle.ledger.keys import default_who, iso


@cli_group.group()
def ledger() -> None:
    """The tamper-evident ledger of every stored event (RFC 9162, C2SP checkpoints)."""


@ledger.command()
@pass_app
def checkpoint(app: App) -> None:
    """Sign, record and print a checkpoint of the current tree."""
    click.echo(app.ledger_reader.checkpoint().note, nl=False)


@ledger.command()
@click.option(
    "--history",
    is_flag=True,
    help="Every key the database records: verifier key, first tree size, when, who, why.",
)
@pass_app
def key(app: App, history: bool) -> None:
    """Print the current verifier key of the checkpoint signatures (C2SP signed-note form)."""
    if not history:
        click.echo(app.ledger.key.verifier_key())
        return
    for record in app.ledger.keys:
        click.echo(
            f"{record.verifier.verifier_key()}\tfrom size {record.from_size}\t"
            f"{iso(record.added_us)}\t{record.added_by}\t{record.reason}"
        )


@ledger.command()
@click.argument("event_id")
@click.option("--size", type=click.IntRange(min=1), help="Tree size [default: latest checkpoint].")
@click.option("--json", "as_json", is_flag=True, help="Print as JSON.")
@pass_app
def proof(app: App, event_id: str, size: int | None, as_json: bool) -> None:
    """Print the inclusion proof of EVENT_ID (RFC 9162 §2.1.3)."""
    result = app.ledger_reader.proof(event_id, size)
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
    result = app.ledger_reader.consistency(old_size, new_size)
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
    help="Also check a checkpoint note kept outside the database (repeatable); it counts "
    "towards the leaves signed.",
)
@pass_app
def verify(app: App, notes: tuple[Path, ...]) -> None:
    """Recompute every leaf, the tree and every checkpoint; exit 1 at the first problem.

    Fails too when the newest checkpoint (recorded, or given with --checkpoint) does not cover
    every leaf: leaves no signature vouches for are not verified. Shows progress on a terminal.
    """
    texts = [(str(path), path.read_text(encoding="utf-8")) for path in notes]
    if sys.stderr.isatty():
        with click.progressbar(
            length=app.ledger_reader.store.ledger_size(),
            label="verifying the ledger",
            file=sys.stderr,
        ) as bar:
            report = app.ledger_reader.verify(notes=texts, progress=bar.update)
    else:
        report = app.ledger_reader.verify(notes=texts)
    if report.recorded_covered < report.leaves:
        click.echo(
            f"warning: the database's own checkpoints cover only {report.recorded_covered} of "
            f"{report.leaves} leaves (were checkpoints deleted?); the checkpoint given covers "
            "them all",
            err=True,
        )
    click.echo(
        f"ledger OK: {report.leaves} leaves, {report.tiles} tiles, "
        f"{report.checkpoints} checkpoints; root {report.root.hex()}"
    )


@ledger.command("rotate-key")
@click.option("--reason", required=True, help="Why the key is replaced (recorded and signed).")
@click.option("--by", help="Who replaces it (recorded) [default: user@host].")
@pass_app
def rotate_key(app: App, reason: str, by: str | None) -> None:
    """Replace the checkpoint signing key with a new one; print its verifier key.

    Run it with the data directory holding the current key, while nothing else writes (stop
    `sentinelle serve`, restart it after). The new key replaces ledger-signing.key; the old
    one is kept beside it as ledger-signing.<key id>.retired.key. The database records the new
    verifier key from the current tree size on, with when, who and why, signed by the old
    key; checkpoints the old key signed still verify. Publish the new verifier key.
    """
    record = app.ledger.rotate_key(
        data_dir=app.settings.data_dir, by=by or default_who(), reason=reason
    )
    click.echo(record.verifier.verifier_key())
    click.echo(
        f"rotated: {record.key_id} signs checkpoints from tree size {record.from_size} on",
        err=True,
    )
