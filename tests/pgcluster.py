"""A throwaway PostgreSQL cluster for tests and benchmarks.

``ThrowawayCluster`` runs ``initdb`` into a temporary folder (in /dev/shm when it can,
see ``default_base_dir``), starts the server on a free
loopback port with durability switched off (``fsync``, ``synchronous_commit`` and
``full_page_writes`` off: the data is thrown away anyway), hands out fresh databases, and
removes everything on ``stop()``. PostgreSQL refuses to run as root, so as root the folder
belongs to the ``postgres`` user and the binaries run through ``runuser -u postgres --``;
as anyone else they run as that user. The binaries are the newest
``/usr/lib/postgresql/*/bin``; ``scripts/ensure-services`` installs them when missing.

``ExternalServer`` offers the same ``url`` / ``create_database()`` / ``drop_database()`` /
``stop()`` on a server someone else runs (``SENTINELLE_TEST_POSTGRES_URL``), and
``from_environment()`` picks one of the two.

This module needs psycopg (the ``postgres`` extra) only to create and drop databases, and
never pytest, so benchmark scripts can use it too::

    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
    from pgcluster import from_environment

    with from_environment() as server:
        url = server.create_database()

``python tests/pgcluster.py`` starts a cluster, prints its URL and waits for Ctrl-C: export
the URL as ``SENTINELLE_TEST_POSTGRES_URL`` and repeated pytest runs skip the start-up.
"""

from __future__ import annotations

import atexit
import contextlib
import itertools
import os
import pwd
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Self
from urllib.parse import quote, unquote, urlsplit, urlunsplit

if TYPE_CHECKING:
    import psycopg

__all__ = [
    "ENV_URL",
    "ClusterStartError",
    "ExternalServer",
    "PostgresNotFoundError",
    "ThrowawayCluster",
    "default_base_dir",
    "find_bin_dir",
    "from_environment",
]

ENV_URL = "SENTINELLE_TEST_POSTGRES_URL"
PG_ROOT = Path("/usr/lib/postgresql")
SERVER_SETTINGS = (
    "-c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off -c full_page_writes=off"
)
_DIR_PREFIX = "sentinelle-pg-"
_OWNER_FILE = "owner.pid"
_PORT_ATTEMPTS = 5
_TERMINATE = (
    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
    " WHERE datname = %s AND pid <> pg_backend_pid()"
)
_REMAINING = "SELECT 1 FROM pg_stat_activity WHERE datname = %s AND pid <> pg_backend_pid() LIMIT 1"
_HINT = "run `bash scripts/ensure-services` (or `make test`, which runs it)"


class PostgresNotFoundError(RuntimeError):
    """No PostgreSQL server binaries (``initdb``) under /usr/lib/postgresql/*/bin."""


class ClusterStartError(RuntimeError):
    """``initdb`` or ``pg_ctl start`` failed; the message ends with the server log's tail."""


def find_bin_dir(root: Path | None = None) -> Path | None:
    """Return the newest ``<root>/<version>/bin`` that has ``initdb`` (root: PG_ROOT), or None."""
    root = PG_ROOT if root is None else root
    found = [
        (tuple(int(n) for n in re.findall(r"\d+", initdb.parent.parent.name)), initdb.parent)
        for initdb in root.glob("*/bin/initdb")
        if os.access(initdb, os.X_OK)
    ]
    return max(found)[1] if found else None


def default_base_dir() -> Path:
    """/dev/shm (RAM) when it is writable with 1 GiB free, else the temporary folder.

    On these machines' ext4 disk a CREATE DATABASE takes about 230 ms even with fsync off
    (it creates a few hundred files); in RAM about 8 ms, and the suite creates hundreds.
    """
    shm = Path("/dev/shm")
    try:
        stat = os.statvfs(shm)
    except OSError:
        stat = None
    if stat is not None and os.access(shm, os.W_OK | os.X_OK):
        if stat.f_bavail * stat.f_frsize >= 1 << 30:
            return shm
    return Path(tempfile.gettempdir())


def _with_dbname(url: str, dbname: str) -> str:
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path="/" + quote(dbname, safe="")))


def _dbname(url: str) -> str:
    return unquote(urlsplit(url).path.lstrip("/"))


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _tail(path: Path, lines: int = 30) -> str:
    try:
        text = path.read_text(errors="replace")
    except OSError as exc:
        return f"(no server log: {exc})"
    return "\n".join(text.splitlines()[-lines:]) or "(server log is empty)"


def _child_env() -> dict[str, str]:
    # A developer's PGDATA, PGPORT, PGOPTIONS... must not steer the throwaway server, and
    # an uninstalled LANG must not make initdb refuse to run.
    env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
    env["LC_ALL"] = "C.UTF-8"
    return env


class _Databases:
    """Creates and drops uniquely named databases through one autocommit admin connection."""

    def __init__(self, admin_url: str) -> None:
        self.admin_url = admin_url
        self._prefix = f"sentinelle_test_{os.getpid()}_{secrets.token_hex(3)}"
        self._counter = itertools.count(1)
        self._lock = threading.Lock()
        self._conn: psycopg.Connection[tuple[object, ...]] | None = None

    def _admin(self) -> psycopg.Connection[tuple[object, ...]]:
        if self._conn is None or self._conn.closed:
            try:
                import psycopg  # optional extra: import only when used
            except ImportError as exc:  # pragma: no cover - depends on the environment
                raise ImportError(
                    "creating test databases needs psycopg: pip install -e '.[postgres]'"
                ) from exc
            self._conn = psycopg.connect(self.admin_url, autocommit=True)
        return self._conn

    def create(self, template: str = "template0") -> str:
        from psycopg import sql

        with self._lock:
            name = f"{self._prefix}_{next(self._counter)}"
            conn = self._admin()
            # FILE_COPY copies the template's files and checkpoints; with fsync off and a small
            # template that beats 15's default WAL_LOG, which writes every page to the WAL
            # (measured on tmpfs: 8 ms against 10 ms, and 9 ms against 22 ms for the first).
            strategy = " STRATEGY FILE_COPY" if conn.info.server_version >= 150000 else ""
            conn.execute(
                sql.SQL("CREATE DATABASE {} TEMPLATE {}" + strategy).format(
                    sql.Identifier(name), sql.Identifier(template)
                )
            )
        return _with_dbname(self.admin_url, name)

    def drop(self, url: str) -> None:
        import psycopg
        from psycopg import sql

        name = _dbname(url)
        with self._lock:
            conn = self._admin()
            # DROP ... WITH (FORCE) alone sleeps 100 ms whenever a backend is still there, and
            # one often is (a third of drops here): closing a client does not wait for its
            # backend to exit. So end the backends here and poll for them in short steps;
            # FORCE stays as the backstop.
            try:
                conn.execute(_TERMINATE, [name])
                deadline = time.monotonic() + 5
                while conn.execute(_REMAINING, [name]).fetchone() and time.monotonic() < deadline:
                    time.sleep(0.002)
            except psycopg.Error:
                pass  # not allowed to end them (someone else's server): FORCE will try
            conn.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
            )

    def close(self) -> None:
        with self._lock:
            if self._conn is not None:
                self._conn.close()
                self._conn = None


class ExternalServer:
    """A PostgreSQL server someone else runs: databases are created and dropped on it.

    ``url`` must name a role that may ``CREATE DATABASE``; ``stop()`` only disconnects.
    """

    def __init__(self, url: str) -> None:
        self.url = url
        self._databases = _Databases(url)

    def create_database(self, *, template: str = "template0") -> str:
        """Create a fresh, uniquely named database and return its URL."""
        return self._databases.create(template)

    def drop_database(self, url: str) -> None:
        """Drop the database ``url`` names, ending any connection still open to it."""
        self._databases.drop(url)

    def stop(self) -> None:
        """Close the admin connection; the server keeps running."""
        self._databases.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


class ThrowawayCluster:
    """A private PostgreSQL server in a temporary folder, removed again by ``stop()``.

    ``start()`` raises ``PostgresNotFoundError`` when no binaries are installed and
    ``ClusterStartError`` (with the server log's tail) when the server does not come up.
    ``stop()`` is idempotent and also registered with ``atexit``; a later ``start()``
    removes clusters whose owning process died without stopping them.
    """

    def __init__(self, *, bin_dir: Path | None = None, base_dir: Path | None = None) -> None:
        self.bin_dir = bin_dir
        self.base_dir = Path(base_dir) if base_dir else default_base_dir()
        self.dir: Path | None = None
        self.port: int | None = None
        self._databases: _Databases | None = None
        self._as_postgres = os.geteuid() == 0

    # -- life cycle ------------------------------------------------------------------

    def start(self) -> Self:
        """Run initdb and start the server on a free loopback port."""
        if self.dir is not None:
            return self
        bin_dir = self.bin_dir or find_bin_dir()
        if bin_dir is None:
            raise PostgresNotFoundError(
                f"no PostgreSQL server binaries in {PG_ROOT}/*/bin: {_HINT}"
            )
        self.bin_dir = bin_dir
        if self._as_postgres:
            try:
                pwd.getpwnam("postgres")
            except KeyError:
                raise PostgresNotFoundError(
                    f"running as root needs a `postgres` user to run the server as: {_HINT}"
                ) from None
        _reap_stale(self.base_dir, bin_dir)
        self.dir = Path(tempfile.mkdtemp(prefix=_DIR_PREFIX, dir=self.base_dir))
        (self.dir / _OWNER_FILE).write_text(str(os.getpid()))
        if self._as_postgres:
            shutil.chown(self.dir, "postgres", "postgres")
        atexit.register(self.stop)
        try:
            self._initdb()
            self._start_server()
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        """Stop the server at once (``-m immediate``) and remove its folder."""
        atexit.unregister(self.stop)
        if self._databases is not None:
            with contextlib.suppress(Exception):
                self._databases.close()
            self._databases = None
        if self.dir is not None and self.bin_dir is not None:
            _kill_server(self.dir, self.bin_dir)
            shutil.rmtree(self.dir, ignore_errors=True)
        self.dir = None
        self.port = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    # -- databases -------------------------------------------------------------------

    @property
    def url(self) -> str:
        """``postgresql://postgres@127.0.0.1:PORT/postgres``; only while running."""
        if self.port is None:
            raise RuntimeError("the cluster is not running: call start() first")
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def create_database(self, *, template: str = "template0") -> str:
        """Create a fresh, uniquely named database and return its URL."""
        if self._databases is None:
            self._databases = _Databases(self.url)
        return self._databases.create(template)

    def drop_database(self, url: str) -> None:
        """Drop the database ``url`` names, ending any connection still open to it."""
        if self._databases is None:
            self._databases = _Databases(self.url)
        self._databases.drop(url)

    # -- internals -------------------------------------------------------------------

    def _run(self, *args: str, new_session: bool = False) -> subprocess.CompletedProcess[str]:
        assert self.bin_dir is not None and self.dir is not None
        return _run_pg(self.bin_dir, self.dir, *args, new_session=new_session)

    def _initdb(self) -> None:
        assert self.dir is not None
        result = self._run(
            "initdb", "-D", str(self.dir / "data"), "-A", "trust", "-U", "postgres",
            "--no-sync", "-E", "UTF8", "--locale=C.UTF-8", "--no-instructions",
        )  # fmt: skip
        if result.returncode != 0:
            raise ClusterStartError(
                f"initdb failed (exit {result.returncode}) in {self.dir}:\n"
                f"{result.stdout}{result.stderr}"
            )

    def _start_server(self) -> None:
        assert self.dir is not None
        log = self.dir / "server.log"
        for _ in range(_PORT_ATTEMPTS):
            port = _free_port()
            with contextlib.suppress(FileNotFoundError):
                log.unlink()
            result = self._run(
                "pg_ctl", "start", "-w", "-t", "60", "-D", str(self.dir / "data"), "-l", str(log),
                "-o", f"-p {port} -k {self.dir} {SERVER_SETTINGS}",
                # Its own session: a Ctrl-C meant for pytest must not shut the server down
                # under the fixtures that are about to stop it.
                new_session=True,
            )  # fmt: skip
            if result.returncode == 0:
                self.port = port
                return
            tail = _tail(log)
            # Another process took the port between _free_port() and the bind: try another.
            if "could not bind" in tail or "already in use" in tail:
                assert self.bin_dir is not None
                _kill_server(self.dir, self.bin_dir)
                continue
            raise ClusterStartError(
                f"PostgreSQL did not start on 127.0.0.1:{port} (pg_ctl exit {result.returncode}):\n"
                f"{result.stdout}{result.stderr}--- tail of {log} ---\n{tail}"
            )
        raise ClusterStartError(
            f"PostgreSQL found no free port in {_PORT_ATTEMPTS} attempts; last log:\n{_tail(log)}"
        )


def _run_pg(
    bin_dir: Path, cwd: Path, program: str, *args: str, new_session: bool = False
) -> subprocess.CompletedProcess[str]:
    command = [str(bin_dir / program), *args]
    if os.geteuid() == 0:
        command = ["runuser", "-u", "postgres", "--", *command]
    return subprocess.run(
        command,
        cwd=cwd,  # the caller's folder may be closed to the postgres user
        env=_child_env(),
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        check=False,
        start_new_session=new_session,
    )


def _postmaster_pid(folder: Path) -> int | None:
    """The pid of the server running on ``folder``, or None (a stale pid file is ignored)."""
    try:
        pid = int((folder / "data" / "postmaster.pid").read_text().split()[0])
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except (OSError, ValueError, IndexError):
        return None
    # After a reboot the pid may belong to an unrelated process: signal only our postmaster.
    return pid if str(folder / "data").encode() in cmdline else None


def _kill_server(folder: Path, bin_dir: Path) -> None:
    """Stop the server of ``folder`` if one runs, by pg_ctl and if need be SIGKILL."""
    if _postmaster_pid(folder) is None:
        return
    _run_pg(bin_dir, folder, "pg_ctl", "stop", "-D", str(folder / "data"), "-m", "immediate", "-w")
    pid = _postmaster_pid(folder)
    if pid is not None:
        with contextlib.suppress(OSError):
            os.kill(pid, signal.SIGKILL)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:  # a zombie nobody has reaped yet still answers kill(pid, 0)
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return True


def _reap_stale(base_dir: Path, bin_dir: Path) -> None:
    """Remove clusters left behind by processes that died without stopping them."""
    for folder in base_dir.glob(_DIR_PREFIX + "*"):
        try:
            owner = int((folder / _OWNER_FILE).read_text())
        except (OSError, ValueError):
            continue  # someone else's, or half made
        if not _alive(owner):
            _kill_server(folder, bin_dir)
            shutil.rmtree(folder, ignore_errors=True)


def from_environment() -> ExternalServer | ThrowawayCluster:
    """The server named by ``SENTINELLE_TEST_POSTGRES_URL``, else a started throwaway one."""
    url = os.environ.get(ENV_URL)
    return ExternalServer(url) if url else ThrowawayCluster().start()


def main() -> None:
    """Start a cluster, print its URL, and keep it until Ctrl-C or SIGTERM."""
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    with ThrowawayCluster() as cluster:
        print(f"PostgreSQL ({cluster.bin_dir}) in {cluster.dir}")  # noqa: T201
        print(f"export {ENV_URL}={cluster.url}", flush=True)  # noqa: T201
        with contextlib.suppress(KeyboardInterrupt):
            signal.pause()


if __name__ == "__main__":
    main()
