"""``sentinelle ledger verify-accesses``: check a merchant's listing of its accesses offline.

Reads what ``GET /v1/merchants/{merchant}/accesses`` (JSON) or ``…/accesses.csv`` gave and
checks it against the verifier key the merchant keeps, with no database and no network: the
checkpoint's signature, then every row's leaf hash and inclusion proof
(:func:`sentinelle.transparency.accesses.check_listing`).
"""

from __future__ import annotations

import json
import sys
from dataclasses import asdict
from pathlib import Path

import click

from sentinelle.cli.app import text_file
from sentinelle.cli.ledger import ledger
from sentinelle.transparency.accesses import check_listing


@ledger.command("verify-accesses")
@click.argument("listing", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option(
    "--key",
    "key",
    required=True,
    help="The ledger's verifier key (name+id+base64), or @FILE to read it from a file.",
)
@click.option("--origin", help="The log the checkpoint must be of (its first line).")
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
def verify_accesses(listing: Path, key: str, origin: str | None, as_json: bool) -> None:
    """Check LISTING, a merchant's accesses as the API's JSON page or CSV export: the
    checkpoint's signature against KEY, then each row's proof to its root. Exit 1 if any
    check fails; a row whose event text was withheld is checked by its leaf hash."""
    key_text = text_file(Path(key[1:]), "--key file") if key.startswith("@") else key
    data = text_file(listing, "listing")
    result = check_listing(data, key_text, origin=origin)
    if as_json:
        click.echo(json.dumps({"ok": result.ok, **asdict(result)}))
    else:
        if result.checkpoint_problem is None:
            click.echo(f"checkpoint: verified (tree size {result.size})")
        else:
            click.echo(f"checkpoint: FAILED: {result.checkpoint_problem}")
        for r in result.rows:
            how = "" if r.text_checked else " (by leaf hash; text withheld)"
            state = "verified" + how if r.problem is None else f"FAILED: {r.problem}"
            click.echo(f"leaf {r.leaf_index} {r.event_id}: {state}")
        failed = sum(r.problem is not None for r in result.rows)
        click.echo(f"{len(result.rows) - failed} of {len(result.rows)} rows verified")
    if not result.ok:
        sys.exit(1)
