"""The CLI's shared state: settings built once, the store and ledger opened on first use.

Commands that create records where there may be no store yet (``ingest``, ``demo``,
``keys create``, ``users create``, ``incident open``, ...) use :attr:`App.store` /
:attr:`App.ledger` (the SQLite database and its folder are created if missing); every other
command, whether it reads or changes records that must already exist, uses :attr:`App.reader`
/ :attr:`App.ledger_reader`, which create nothing and raise
:class:`~sentinelle.errors.StoreNotFoundError` ("no Sentinelle database in DIR (run
`sentinelle ingest` or `sentinelle demo` first, ...)") when there is no database.
:meth:`App.keep_only_if_logged` removes a database a refused or empty first batch created.
:attr:`App.location` names the store in messages.

Every command and every group, the top-level one too, takes ``--data-dir DIR`` (over
``SENTINELLE_DATA_DIR``); the innermost wins.
"""

from __future__ import annotations

import contextlib
import importlib
import logging
import os
from collections.abc import Iterator
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

import click
from pydantic import ValidationError as PydanticValidationError

from sentinelle import __version__
from sentinelle.config import Settings
from sentinelle.errors import ConfigError, Error, StoreNotFoundError
from sentinelle.ledger.log import KEY_FILE, Ledger
from sentinelle.store import Store, open_store, sqlite_path
from sentinelle.store.sqlite import database_files

if TYPE_CHECKING:
    from sentinelle.detect import DetectConfig

__all__ = ["App", "cli_group", "pass_app"]

_DATA_DIR_HELP = (
    "Folder of the SQLite database and the ledger signing key "
    "[default: SENTINELLE_DATA_DIR or ./sentinelle-data]."
)


def text_file(path: Path, what: str) -> str:
    """The UTF-8 text of ``path``, a file a command was given. Raises :class:`ConfigError`
    naming it (as ``what``: ``checkpoint``, ``listing``) if it cannot be read or is not
    text."""
    try:
        return path.read_bytes().decode("utf-8")
    except OSError as exc:
        raise ConfigError(f"{what} {path}: cannot read it: {exc.strerror}") from None
    except UnicodeDecodeError:
        raise ConfigError(f"{what} {path}: the file is not UTF-8 text") from None


class App:
    """What every subcommand needs, opened lazily and closed at exit."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._store: Store | None = None
        self._ledger: Ledger | None = None

    @classmethod
    def from_env(cls, *, data_dir: Path | None = None) -> App:
        """Settings from ``SENTINELLE_*`` variables, ``data_dir`` over theirs.

        Raises :class:`ConfigError` if invalid.
        """
        overrides: dict[str, Any] = {} if data_dir is None else {"data_dir": data_dir}
        try:
            return cls(Settings(**overrides))
        except PydanticValidationError as exc:
            problems = "; ".join(
                f"SENTINELLE_{'_'.join(str(p) for p in e['loc']).upper()}: {e['msg']}"
                for e in exc.errors()
            )
            raise ConfigError(f"invalid settings: {problems}") from None

    def use_data_dir(self, data_dir: Path) -> None:
        """Use ``data_dir`` instead of the settings' (``--data-dir``); before any store opens."""
        if self._store is not None:  # pragma: no cover - options are parsed before commands run
            raise ConfigError("--data-dir must come before the store is opened")
        self.settings = self.settings.model_copy(update={"data_dir": data_dir})

    @property
    def location(self) -> str:
        """The store, for people: the SQLite file or the PostgreSQL URL without its password."""
        if self._store is not None:
            return self._store.location
        path = sqlite_path(self.settings)
        if path is not None:
            return str(path)
        from sentinelle.store.postgres import redact_url

        return redact_url(self.settings.database_url or "")

    @property
    def store(self) -> Store:
        """The store the settings name, schema up to date; created if missing (for writers)."""
        if self._store is None:
            self._store = open_store(self.settings)
        return self._store

    @property
    def reader(self) -> Store:
        """The existing store, for commands that read or change what it holds: creates no
        database or folder.

        Raises :class:`~sentinelle.errors.StoreNotFoundError` if there is none.
        """
        if self._store is None:
            try:
                self._store = open_store(self.settings, create=False)
            except StoreNotFoundError:
                raise StoreNotFoundError(self._no_store()) from None
        return self._store

    def _no_store(self) -> str:
        path = sqlite_path(self.settings)
        data_dir = self.settings.data_dir
        where = f"in {data_dir}" if path == data_dir / "sentinelle.db" else f"at {path}"
        return (
            f"no Sentinelle database {where} (run `sentinelle ingest` or `sentinelle demo` "
            "first, or check --data-dir or SENTINELLE_DATA_DIR)"
        )

    @contextlib.contextmanager
    def keep_only_if_logged(self) -> Iterator[None]:
        """Around a first batch: if the SQLite database did not exist and the ledger is still
        empty at the end (the batch was refused, or held no event), the database, the signing
        key and the folders this run created are removed again: nothing is left behind."""
        path = sqlite_path(self.settings)
        if path is None or os.path.lexists(path):  # PostgreSQL, or a database there already
            yield
            return
        key = self.settings.data_dir / KEY_FILE
        had_key = os.path.lexists(key)
        new_dirs = _missing_folders(path.parent)
        new_dirs += [d for d in _missing_folders(self.settings.data_dir) if d not in new_dirs]
        try:
            yield
        finally:
            if self._store is not None and _ledger_empty(self._store):
                self.close()
                self._ledger = None
                for file in database_files(path):
                    file.unlink(missing_ok=True)
                if not had_key:
                    key.unlink(missing_ok=True)
                for folder in sorted(new_dirs, key=lambda d: -len(d.parts)):
                    with contextlib.suppress(OSError):  # not empty: something else is there
                        folder.rmdir()

    @property
    def ledger(self) -> Ledger:
        """The store's ledger with its signing key (store created if missing)."""
        return self._ledger_of(self.store)

    @property
    def ledger_reader(self) -> Ledger:
        """The ledger of the existing store (:attr:`reader`)."""
        return self._ledger_of(self.reader)

    def _ledger_of(self, store: Store) -> Ledger:
        if self._ledger is None:
            self._ledger = Ledger.open(
                store, data_dir=self.settings.data_dir, origin=self.settings.log_origin
            )
        return self._ledger

    @cached_property
    def detect_config(self) -> DetectConfig:
        """Detection thresholds from ``SENTINELLE_DETECT_CONFIG``, or the defaults."""
        from sentinelle.detect import DetectConfig  # not loaded by commands without detection

        return DetectConfig.from_settings(self.settings)

    def close(self) -> None:
        """Close the store if it was opened."""
        if self._store is not None:
            self._store.close()
            self._store = None


def _ledger_empty(store: Store) -> bool:
    try:
        return store.ledger_size() == 0
    except Error:  # cannot tell: keep it
        return False


def _missing_folders(folder: Path) -> list[Path]:
    """``folder`` and its ancestors that do not exist, innermost first."""
    missing = []
    for f in (folder.absolute(), *folder.absolute().parents):
        if os.path.lexists(f):
            break
        missing.append(f)
    return missing


pass_app = click.make_pass_decorator(App)


def _command_data_dir(ctx: click.Context, _: click.Parameter, value: Path | None) -> None:
    app = ctx.find_object(App)
    if value is not None and app is not None:
        app.use_data_dir(value)


def _data_dir_option() -> click.Option:
    return click.Option(
        ["--data-dir"],
        type=click.Path(file_okay=False, path_type=Path),
        expose_value=False,
        callback=_command_data_dir,
        help=_DATA_DIR_HELP,
    )


class _Command(click.Command):
    """A command that also takes ``--data-dir`` after its name."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.params.append(_data_dir_option())


class _Group(click.Group):
    """Groups whose commands take ``--data-dir``; their subgroups too. A group takes it
    itself too (``sentinelle alerts --data-dir DIR``, a group that runs without a
    subcommand; ``sentinelle ledger --data-dir DIR key``); a subcommand's own wins."""

    command_class = _Command
    group_class: type[click.Group] | type[type] = type
    #: The top-level group has its own ``--data-dir``, which makes the App.
    _own_data_dir: bool = True

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if self._own_data_dir:
            self.params.append(_data_dir_option())


#: Each top-level command and the modules that define it and its subcommands, imported when
#: the command is asked for: ``sentinelle ingest`` does not load the simulator, the notices'
#: templates or the password hasher (half a second of start-up). ``--help`` imports them all.
COMMANDS: Final[dict[str, tuple[str, ...]]] = {
    "alerts": ("detect",),
    "assess": ("assess",),
    "connectors": ("connectors",),
    "demo": ("demo",),
    "detect": ("detect",),
    "feeds": ("detect",),
    "grants": ("grants",),
    "incident": ("incident", "notify"),
    "ingest": ("ingest",),
    "keys": ("keys",),
    "ledger": ("ledger", "accesses"),
    "monitor": ("monitor",),
    "outbound": ("outbound",),
    "policy": ("policy",),
    "risk": ("detect",),
    "serve": ("serve",),
    "simulate": ("simulate",),
    "suspensions": ("suspensions",),
    "users": ("users",),
    "witness": ("witness",),
}


class _Root(_Group):
    """The ``sentinelle`` group: a command's module is imported when it is asked for
    (:data:`COMMANDS`); it registers itself on this group."""

    group_class = _Group  # its subgroups load nothing
    _own_data_dir = False

    def list_commands(self, ctx: click.Context) -> list[str]:  # noqa: ARG002 - click's signature
        return sorted(set(COMMANDS) | set(self.commands))

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        for module in COMMANDS.get(cmd_name, ()):
            importlib.import_module(f"sentinelle.cli.{module}")
        return super().get_command(ctx, cmd_name)


def _not_noted(record: logging.LogRecord) -> bool:
    """Whether to log ``record``: not when a command prints its words as a warning already
    (``sentinelle.detect.runner.NOTED``, read by name: detection's modules stay unloaded)."""
    return not getattr(record, "noted", False)


@click.group(
    cls=_Root,
    context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100},
)
@click.option("-v", "--verbose", is_flag=True, help="Log more, and show tracebacks on errors.")
@click.option("--data-dir", type=click.Path(file_okay=False, path_type=Path), help=_DATA_DIR_HELP)
@click.version_option(__version__, prog_name="sentinelle")
@click.pass_context
def cli_group(ctx: click.Context, verbose: bool, data_dir: Path | None) -> None:
    """Sentinelle: watch access to customer data, detect abuse, handle leaks.

    Data lives in SQLite under ./sentinelle-data (--data-dir or SENTINELLE_DATA_DIR), or in
    PostgreSQL when SENTINELLE_DATABASE_URL=postgresql://… is set. Commands that only read
    never create a database.
    """
    root = logging.getLogger()
    before = list(root.handlers)  # a host's own (a test's, an embedding program's) stay as is
    logging.basicConfig(
        level=logging.INFO if verbose else logging.WARNING,
        format="%(levelname)s %(name)s: %(message)s",
    )
    for handler in root.handlers:  # ours on stderr: not what the command prints as a warning
        if handler not in before:
            handler.addFilter(_not_noted)
    app = App.from_env(data_dir=data_dir)
    ctx.obj = app
    ctx.call_on_close(app.close)
