"""``sentinelle demo``: the main job end to end on the embedded store."""

from __future__ import annotations

import json
import shutil
import time

import click

from sentinelle.cli.app import App, cli_group, pass_app
from sentinelle.config import Settings
from sentinelle.ingest import Ingestor
from sentinelle.ledger.merkle import verify_inclusion
from sentinelle.sim import generate_events


@cli_group.command()
@click.option("--events", default=20_000, show_default=True, type=click.IntRange(1, 10_000_000))
@click.option("--seed", default=1, show_default=True, type=int)
@pass_app
def demo(app: App, events: int, seed: int) -> None:
    """Generate a realistic support stream, ingest it, verify the ledger and prove one event.

    Runs in its own folder, <data dir>/demo, emptied first, on SQLite.
    """
    folder = app.settings.data_dir / "demo"
    shutil.rmtree(folder, ignore_errors=True)
    demo_app = App(Settings(data_dir=folder, log_origin=app.settings.log_origin))
    try:
        stream = folder / "events.jsonl"
        folder.mkdir(parents=True)
        written = 0
        with stream.open("w", encoding="utf-8") as f:
            for event in generate_events(events=events, seed=seed):
                f.write(json.dumps(event) + "\n")
                written += 1
        click.echo(
            f"1. generated {written} support events (tickets, accesses, app reads) → {stream}"
        )
        started = time.perf_counter()
        with stream.open("rb") as f:
            result = Ingestor(demo_app.store, demo_app.ledger).ingest(enumerate(f, 1))
        took = time.perf_counter() - started
        click.echo(
            f"2. ingested {result.stored} events in {took:.2f} s "
            f"({result.stored / took:,.0f} events/s) into {folder / 'sentinelle.db'}"
        )
        with stream.open("rb") as f:
            again = Ingestor(demo_app.store, demo_app.ledger).ingest(enumerate(f, 1))
        click.echo(
            f"3. sent the same file again: {again.duplicates} duplicates, {again.stored} stored"
        )
        report = demo_app.ledger.verify()
        click.echo(
            f"4. verified the ledger: {report.leaves} leaves, "
            f"{report.checkpoints} signed checkpoint(s)"
        )
        click.echo("5. latest checkpoint (C2SP signed note):")
        click.echo("   " + (result.checkpoint or "").replace("\n", "\n   ").rstrip())
        click.echo(f"   verifier key: {demo_app.ledger.key.verifier_key()}")
        proof = demo_app.ledger.proof("evt-00000010")
        verify_inclusion(
            bytes.fromhex(proof["leaf_hash"]),
            proof["leaf_index"],
            proof["tree_size"],
            [bytes.fromhex(h) for h in proof["inclusion_path"]],
            bytes.fromhex(proof["root_hash"]),
        )
        click.echo(
            f"6. inclusion proof of event evt-00000010: leaf {proof['leaf_index']}, "
            f"{len(proof['inclusion_path'])} hashes, "
            f"verified against root {proof['root_hash'][:16]}…"
        )
        click.echo(f"Try: SENTINELLE_DATA_DIR={folder} sentinelle ledger verify")
    finally:
        demo_app.close()
