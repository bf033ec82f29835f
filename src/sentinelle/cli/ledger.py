"""``sentinelle ledger``: checkpoints, proofs and verification."""

from __future__ import annotations

import functools
import json
import sys
from pathlib import Path

import click

from sentinelle.cli.app import App, cli_group, pass_app, text_file
from sentinelle.errors import ConfigError
from sentinelle.ledger.cosignature import CosignatureVerifier
from sentinelle.ledger.keys import default_who, iso
from sentinelle.ledger.publish import publish as publish_ledger
from sentinelle.ledger.witnessing import parse_witnesses, request_cosignatures


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
        click.echo(app.ledger_reader.key.verifier_key())
        return
    for record in app.ledger_reader.keys:
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
    "towards the leaves signed, and its witnesses' cosignatures are checked too.",
)
@click.option(
    "--witness-key",
    "witness_keys",
    multiple=True,
    metavar="VERIFIER_KEY",
    help="A witness trusted as a root outside the database (repeatable) [default: the keys of "
    "SENTINELLE_WITNESSES]: it must have cosigned a checkpoint, recorded or given, that the "
    "tree still matches.",
)
@click.option(
    "--max-unwitnessed",
    type=click.IntRange(min=0),
    help="Fail if more than this many of the newest leaves lack a witness's cosignature "
    "[default: no limit, a warning].",
)
@pass_app
def verify(
    app: App, notes: tuple[Path, ...], witness_keys: tuple[str, ...], max_unwitnessed: int | None
) -> None:
    """Recompute every leaf, the tree and every checkpoint; exit 1 at the first problem.

    Fails too when the newest checkpoint (recorded, or given with --checkpoint) does not cover
    every leaf: leaves no signature vouches for are not verified. Rebuilds every merchant's
    slice from the events: fails when a checkpoint's merchant-map line is not the map they give
    (naming the merchant when the stored slices tell), when the newest checkpoint has no map
    line, or when a merchant's stored slice is not the one its events give. With witness keys,
    fails when a witness cosigned nothing here, a cosignature does not verify, the tree is not
    the one a witness cosigned, or a checkpoint a witness cosigned was deleted. Shows progress
    on a terminal.
    """
    texts = [(str(path), text_file(path, "checkpoint")) for path in notes]
    witnesses = (
        [CosignatureVerifier.from_verifier_key(k) for k in witness_keys]
        if witness_keys
        else [w.verifier for w in parse_witnesses(app.settings.witnesses)]
    )
    if max_unwitnessed is not None and not witnesses:
        raise ConfigError(
            "--max-unwitnessed needs witness keys (--witness-key or SENTINELLE_WITNESSES)"
        )
    verify_ledger = functools.partial(
        app.ledger_reader.verify,
        notes=texts,
        witnesses=witnesses,
        max_unwitnessed=max_unwitnessed,
    )
    if sys.stderr.isatty():
        with click.progressbar(
            length=app.ledger_reader.store.ledger_size(),
            label="verifying the ledger",
            file=sys.stderr,
        ) as bar:
            report = verify_ledger(progress=bar.update)
    else:
        report = verify_ledger()
    if report.recorded_covered < report.leaves:
        click.echo(
            f"warning: the database's own checkpoints cover only {report.recorded_covered} of "
            f"{report.leaves} leaves (were checkpoints deleted?); the checkpoint given covers "
            "them all",
            err=True,
        )
    witnessed = ""
    if report.witnesses:
        witnessed = f"; witnessed up to {report.witnessed} by {report.witnesses} witness key(s)"
        if report.witnessed < report.leaves:
            click.echo(
                f"warning: leaves {report.witnessed}–{report.leaves - 1} are signed by the "
                "ledger's own key only, no witness has cosigned them yet (run `sentinelle "
                "ledger witness`)",
                err=True,
            )
    click.echo(
        f"ledger OK: {report.leaves} leaves, {report.tiles} tiles, "
        f"{report.checkpoints} checkpoints; root {report.root.hex()}; {report.merchants} "
        f"merchants' slices rebuilt, {report.mapped} map lines matched{witnessed}"
    )


@ledger.command("witness")
@click.option(
    "--witness",
    "specs",
    multiple=True,
    metavar="URL=VERIFIER_KEY",
    help="A witness to ask (repeatable) [default: SENTINELLE_WITNESSES].",
)
@click.option(
    "--timeout", default=10.0, show_default=True, type=click.FloatRange(min=0.1), help="Seconds."
)
@pass_app
def witness_checkpoint(app: App, specs: tuple[str, ...], timeout: float) -> None:
    """Ask each witness to cosign the newest checkpoint; record their cosignatures.

    Sends C2SP tlog-witness add-checkpoint with the consistency proof from the size each
    witness last cosigned. Run it after each ingest, or from cron or a systemd timer. Exits 1
    if a witness refused or could not be reached (the others' cosignatures are kept): a
    witness that refuses for inconsistency has seen another history of this ledger.
    """
    witnesses = parse_witnesses(specs or app.settings.witnesses)
    # The existing database only: nothing to witness in a new one (and none is created).
    outcomes = request_cosignatures(app.ledger_reader, witnesses, timeout=timeout)
    for outcome in outcomes:
        who = f"witness {outcome.witness.verifier.key_id} ({outcome.witness.url})"
        if outcome.ok:
            click.echo(f"{who}: {outcome.message}")
        else:
            click.echo(f"error: {who}: {outcome.message}", err=True)
    if not all(o.ok for o in outcomes):
        sys.exit(1)  # not click's Exit: main() runs click in non-standalone mode, which returns it


@ledger.command("publish")
@click.argument("directory", type=click.Path(file_okay=False, path_type=Path))
@click.option(
    "--tiles", is_flag=True, help="Also publish the hash tiles (tile/<L>/<N>), new ones only."
)
@pass_app
def publish(app: App, directory: Path, tiles: bool) -> None:
    """Write the newest checkpoint, with its cosignatures, to DIRECTORY/checkpoint (C2SP
    tlog-tiles layout, for any static web server or object store to serve).

    With --tiles, also the tree's hash tiles (not the events). Files are replaced atomically;
    the checkpoint last.
    """
    report = publish_ledger(app.ledger_reader.store, directory, tiles=tiles)
    click.echo(
        f"published the checkpoint of size {report.size} with {report.cosignatures} "
        f"cosignature(s) and {report.tiles_written} new tile(s) to {directory}"
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
    record = app.ledger_reader.rotate_key(
        data_dir=app.settings.data_dir, by=by or default_who(), reason=reason
    )
    click.echo(record.verifier.verifier_key())
    click.echo(
        f"rotated: {record.key_id} signs checkpoints from tree size {record.from_size} on",
        err=True,
    )


@ledger.command("slice")
@click.argument("merchant")
@click.option(
    "--from",
    "from_size",
    type=click.IntRange(min=0),
    default=0,
    show_default=True,
    help="Tree size of the older checkpoint (0: from the start).",
)
@click.option(
    "--to",
    "to_size",
    type=click.IntRange(min=1),
    help="Tree size of the newer checkpoint [latest].",
)
@click.option(
    "--verify",
    "check",
    is_flag=True,
    help="Check the answer as the merchant would (sentinelle.transparency.verify), against the "
    "ledger's verifier key; exit 1 naming what fails.",
)
@click.option("--customer", help="With --verify: list the verified accesses naming this customer.")
@click.option("--json", "as_json", is_flag=True, help="Print the answer as JSON (one page).")
@pass_app
def slice_(
    app: App,
    merchant: str,
    from_size: int,
    to_size: int | None,
    check: bool,
    customer: str | None,
    as_json: bool,
) -> None:
    """MERCHANT's accesses logged between two checkpoints, with the proofs that none is missing.

    The answer is the one of GET /v1/merchants/MERCHANT/slice (docs/ledger.md, "Merchant
    slices"), read from the local store, its pages joined into one.
    """
    from sentinelle.errors import IntegrityError
    from sentinelle.ledger.slices import SliceQueryError, slice_page
    from sentinelle.transparency.verify import VerificationError, accesses_to, verify_slice

    ledger = app.ledger_reader
    store = app.reader
    try:
        with store.snapshot():
            if to_size is None:
                latest = store.latest_checkpoint()
                if latest is None or latest.size == 0:
                    raise ConfigError("no checkpoint recorded yet: ingest events first")
                to_size = int(latest.size)
            page = slice_page(
                store, ledger.slices, merchant, from_size=from_size, to_size=to_size, limit=10_000
            )
            answer = page.to_dict()
            while page.next is not None:
                page = slice_page(
                    store,
                    ledger.slices,
                    merchant,
                    from_size=from_size,
                    to_size=to_size,
                    after=page.next,
                    limit=10_000,
                )
                answer["entries"].extend(page.to_dict()["entries"])
    except SliceQueryError as exc:
        raise ConfigError(f"--{exc.param}: {exc}") from None
    if as_json and not check:
        click.echo(json.dumps(answer))
        return
    head_from, head_to = answer["from"]["slice"], answer["to"]["slice"]
    summary = (
        f"merchant {merchant}: {len(answer['entries'])} access(es) logged between tree sizes "
        f"{from_size} and {to_size} (slice entries {head_from['size']}–{head_to['size']})"
    )
    if check:
        try:
            verified = verify_slice(
                answer,
                verifier_key=ledger.key.verifier_key(),
                merchant=merchant,
                origin=ledger.origin,
            )
        except VerificationError as exc:
            raise IntegrityError(f"merchant {merchant}'s slice does not verify: {exc}") from None
        if as_json:
            click.echo(json.dumps(answer))
            return
        summary += "; verified complete against the signed checkpoints"
        if customer is not None:
            touched = accesses_to(verified, customer)
            summary += f"; customer {customer}: " + (
                f"{len(touched)} access(es)" if touched else "not accessed (proven)"
            )
    click.echo(summary)
    for entry in answer["entries"]:
        event = json.loads(entry["event"])
        if customer is not None and customer not in (event.get("subjects") or ()):
            continue
        actor = event.get("actor", {}).get("id", "?")
        click.echo(
            f"  {entry['slice_index']}\tleaf {entry['leaf_index']}\t{event.get('time')}\t"
            f"{event.get('action')}\t{actor}\t{event.get('id')}"
        )
