"""The ``sentinelle`` command. Parses, delegates, and maps :class:`~sentinelle.errors.Error`
to a one-line diagnosis and exit code 1 (a traceback only with ``--verbose``); any other
exception is a bug, said in one line too, with its type and where it was raised."""

from __future__ import annotations

import sys
import traceback

import click

from sentinelle.cli.app import App, cli_group
from sentinelle.errors import Error

__all__ = ["App", "main"]

# Subcommands register themselves on the group when imported, which the group does when one
# is asked for (sentinelle.cli.app.COMMANDS).


def main(argv: list[str] | None = None) -> None:
    """Run the CLI; exits the process."""
    args = sys.argv[1:] if argv is None else argv
    verbose = "--verbose" in args or "-v" in args
    try:
        # Not standalone: click returns (does not raise) the code of ctx.exit(n) / Exit(n).
        code = cli_group.main(args=args, prog_name="sentinelle", standalone_mode=False)
    except click.exceptions.Exit as exc:
        sys.exit(exc.exit_code)
    except click.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)
    except click.exceptions.Abort:
        click.echo("aborted", err=True)
        sys.exit(130)
    except Error as exc:
        if verbose:
            raise
        click.echo(f"error: {exc.diagnostics()}", err=True)
        sys.exit(1)
    except KeyboardInterrupt:
        click.echo("interrupted", err=True)
        sys.exit(130)
    except Exception as exc:  # a bug: one line naming it, the traceback with --verbose
        if verbose:
            raise
        click.echo(f"error: {_unexpected(exc)}", err=True)
        sys.exit(1)
    sys.exit(code if isinstance(code, int) else 0)


def _unexpected(exc: Exception) -> str:
    """``exc`` as a bug report's first line: its type, message and the innermost place of
    Sentinelle's code it came through."""
    place = ""
    for frame in traceback.extract_tb(exc.__traceback__):
        if "/sentinelle/" in frame.filename.replace("\\", "/"):
            module = frame.filename.replace("\\", "/").rpartition("/sentinelle/")[2]
            place = f" in sentinelle/{module}:{frame.lineno} ({frame.name})"
    return (
        f"unexpected {type(exc).__name__}: {exc}{place}. This is a bug in Sentinelle: "
        "run the command again with --verbose for the traceback, and report it"
    )
