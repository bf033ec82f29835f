"""The CLI's shared state: settings built once, the store and ledger opened on first use."""

from __future__ import annotations

import logging
from functools import cached_property

import click
from pydantic import ValidationError as PydanticValidationError

from sentinelle import __version__
from sentinelle.config import Settings
from sentinelle.detect import DetectConfig
from sentinelle.errors import ConfigError
from sentinelle.ledger.log import Ledger
from sentinelle.store import Store, open_store

__all__ = ["App", "cli_group", "pass_app"]


class App:
    """What every subcommand needs, opened lazily and closed at exit."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    @classmethod
    def from_env(cls) -> App:
        """Settings from ``SENTINELLE_*`` variables. Raises :class:`ConfigError` if invalid."""
        try:
            return cls(Settings())
        except PydanticValidationError as exc:
            problems = "; ".join(
                f"SENTINELLE_{'_'.join(str(p) for p in e['loc']).upper()}: {e['msg']}"
                for e in exc.errors()
            )
            raise ConfigError(f"invalid settings: {problems}") from None

    @cached_property
    def store(self) -> Store:
        """The store the settings name, schema up to date."""
        return open_store(self.settings)

    @cached_property
    def ledger(self) -> Ledger:
        """The store's ledger with its signing key."""
        return Ledger.open(
            self.store, data_dir=self.settings.data_dir, origin=self.settings.log_origin
        )

    @cached_property
    def detect_config(self) -> DetectConfig:
        """Detection thresholds from ``SENTINELLE_DETECT_CONFIG``, or the defaults."""
        return DetectConfig.from_settings(self.settings)

    def close(self) -> None:
        """Close the store if it was opened."""
        if "store" in self.__dict__:
            self.store.close()


pass_app = click.make_pass_decorator(App)


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.option("-v", "--verbose", is_flag=True, help="Log more, and show tracebacks on errors.")
@click.version_option(__version__, prog_name="sentinelle")
@click.pass_context
def cli_group(ctx: click.Context, verbose: bool) -> None:
    """Sentinelle: watch access to customer data, detect abuse, handle leaks.

    Data lives in SQLite under ./sentinelle-data (SENTINELLE_DATA_DIR), or in PostgreSQL
    when SENTINELLE_DATABASE_URL=postgresql://… is set.
    """
    logging.basicConfig(
        level=logging.INFO if verbose else logging.WARNING,
        format="%(levelname)s %(name)s: %(message)s",
    )
    app = App.from_env()
    ctx.obj = app
    ctx.call_on_close(app.close)
