"""``sentinelle witness``: run a transparency log witness (C2SP tlog-witness)."""

from __future__ import annotations

from pathlib import Path

import click

from sentinelle.cli.app import cli_group
from sentinelle.errors import ConfigError, NotFoundError
from sentinelle.ledger.cosignature import Cosigner

_KEY_HELP = (
    "The witness's private key file (created, mode 0600, on first use; keep it apart from any "
    "Sentinelle data directory)."
)
_NAME_HELP = (
    "The witness's key name, a schema-less URL by convention (witness.example/w1); needed only "
    "to create the key."
)


@cli_group.group()
def witness() -> None:
    """A witness: cosigns a log's checkpoints, each only if it extends the last one it cosigned.

    Run it on another host, under another administrator, than the Sentinelle it witnesses:
    its key and state are the ledger's root of trust outside the database (docs/ledger.md).
    """


@witness.command()
@click.option("--key", "key_file", required=True, type=click.Path(path_type=Path), help=_KEY_HELP)
@click.option("--name", help=_NAME_HELP)
def key(key_file: Path, name: str | None) -> None:
    """Print the witness's verifier key (cosignature/v1, C2SP tlog-cosignature).

    Give it to the logs it witnesses (SENTINELLE_WITNESSES=URL=KEY) and to whoever verifies
    them (sentinelle ledger verify --witness-key KEY).
    """
    click.echo(Cosigner.load_or_create(key_file, name).verifier_key())


@witness.command()
@click.option("--key", "key_file", required=True, type=click.Path(path_type=Path), help=_KEY_HELP)
@click.option("--name", help=_NAME_HELP)
@click.option(
    "--state",
    "state_file",
    required=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help="The witness's state, a SQLite file: per log, the checkpoint it last cosigned. Losing "
    "it lets the witness be fooled: back it up, never replace it with an older copy.",
)
@click.option(
    "--log",
    "logs",
    required=True,
    multiple=True,
    metavar="ORIGIN=VERIFIER_KEY",
    help="A log to witness: its checkpoint origin and a key that signs its checkpoints "
    "(`sentinelle ledger key`). Repeatable (several logs, or keys of one log).",
)
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", default=8380, show_default=True, type=click.IntRange(1, 65535))
def serve(
    key_file: Path, name: str | None, state_file: Path, logs: tuple[str, ...], host: str, port: int
) -> None:
    """Serve POST /add-checkpoint (C2SP tlog-witness).

    No authentication, as the spec says: a request is only as good as the log's signature on
    its checkpoint, which is verified against the --log keys; it is cosigned only if its
    consistency proof leads from the checkpoint last cosigned. Put TLS in front of it.
    """
    try:
        import uvicorn

        from sentinelle.witness.http import create_witness_app
    except ImportError as exc:
        raise ConfigError(
            f"the witness needs the 'api' extra: pip install 'sentinelle[api]' ({exc})"
        ) from None
    from sentinelle.witness import Witness, WitnessState, parse_logs

    cosigner = Cosigner.load_or_create(key_file, name)
    state = WitnessState(state_file)
    app = create_witness_app(Witness(key=cosigner, state=state, logs=parse_logs(logs)))
    click.echo(f"witness {cosigner.verifier_key()}", err=True)
    try:
        uvicorn.run(app, host=host, port=port, log_level="info")
    finally:
        state.close()


@witness.command()
@click.option(
    "--state",
    "state_file",
    required=True,
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="The witness's state file.",
)
@click.argument("origin")
def latest(state_file: Path, origin: str) -> None:
    """Print the checkpoint of ORIGIN the witness last cosigned, with its cosignature.

    Keep it where the log's administrators cannot change it: `sentinelle ledger verify
    --checkpoint FILE --witness-key KEY` checks the ledger against it.
    """
    from sentinelle.witness import WitnessState

    state = WitnessState(state_file)
    try:
        found = state.get(origin)
    finally:
        state.close()
    if found is None:
        raise NotFoundError(f"the witness has cosigned no checkpoint of {origin!r}")
    click.echo(found.note, nl=False)
