"""Throwaway real PostgreSQL clusters (initdb in a temp dir, free loopback port) for tests, bench and `up`.

Failure semantics: `start()` either returns with the server accepting real connections or raises
`PostgresServerError` carrying the server log tail, after cleaning up what it started. `stop()` is
best effort and idempotent; `kill()` SIGKILLs the server to simulate a crash, and `restart()` brings
the same data directory back on the same port (committed data survives when `durable=True`).

Usage::

    with PostgresServer(durable=False) as pg:
        pg.create_database("orders_eu")
        engine = sqlalchemy.create_engine(pg.url("orders_eu"))
"""

from __future__ import annotations

import contextlib
import glob
import os
import re
import shutil
import signal
import subprocess
import tempfile
import time
import weakref
from collections.abc import Mapping, Sequence
from pathlib import Path
from types import TracebackType

import psycopg
from psycopg import sql

from deploy.processes import alive, free_port

__all__ = ["PostgresServer", "PostgresServerError", "find_bindir"]

_REQUIRED_BINARIES = ("initdb", "pg_ctl", "postgres")
_PORT_ATTEMPTS = 5
_START_TIMEOUT_S = 60
_LOG_TAIL_LINES = 40
# What postgres writes when another process grabbed the port between our probe and its bind.
_PORT_IN_USE = re.compile(r"could not bind|Address already in use|could not create any TCP/IP sockets")


class PostgresServerError(RuntimeError):
    """The server could not be set up, started or reached; the message carries the log tail."""


def find_bindir(explicit: str | os.PathLike[str] | None = None) -> Path:
    """Directory with initdb, pg_ctl and postgres: explicit, $PATH, else newest /usr/lib/postgresql/*/bin."""
    candidates: list[Path] = []
    if explicit is not None:
        candidates.append(Path(explicit))
    on_path = shutil.which("initdb")
    if on_path:
        # Resolve symlinks (e.g. /usr/local/bin/initdb -> /usr/lib/postgresql/15/bin/initdb) so that
        # pg_ctl finds the postgres binary of the very same version beside it.
        candidates.append(Path(on_path).resolve().parent)
    debian = glob.glob("/usr/lib/postgresql/*/bin")
    candidates.extend(Path(d) for d in sorted(debian, key=_version_key, reverse=True))
    for bindir in candidates:
        if all(os.access(bindir / name, os.X_OK) for name in _REQUIRED_BINARIES):
            return bindir
    raise PostgresServerError(
        "PostgreSQL server binaries (initdb, pg_ctl, postgres) not found on PATH or in "
        "/usr/lib/postgresql/*/bin; run deploy/bootstrap.sh (installs the Debian 'postgresql' package)"
    )


def _version_key(path: str) -> tuple[int, ...]:
    version = Path(path).parent.name
    return tuple(int(part) for part in re.findall(r"\d+", version)) or (0,)


def _env() -> dict[str, str]:
    return {**os.environ, "LC_ALL": "C", "LANG": "C"}


def _children(pid: int) -> list[int]:
    found = []
    for status in glob.glob("/proc/[0-9]*/status"):
        with contextlib.suppress(OSError):
            text = Path(status).read_text()
            if re.search(rf"^PPid:\s+{pid}$", text, re.MULTILINE):
                found.append(int(Path(status).parent.name))
    return found


class PostgresServer:
    """One PostgreSQL cluster in a temp dir, SERIALIZABLE by default, trust auth on 127.0.0.1."""

    def __init__(
        self,
        *,
        durable: bool = True,
        settings: Mapping[str, str | int | float | bool] | None = None,
        user: str = "postgres",
        bindir: str | os.PathLike[str] | None = None,
        base_dir: str | os.PathLike[str] | None = None,
    ) -> None:
        self.durable = durable
        self.user = user
        self._settings = dict(settings or {})
        self._bindir = find_bindir(bindir or os.environ.get("ORDERMESH_PG_BINDIR"))
        self._base_dir = base_dir
        self._root: Path | None = None
        self._port: int | None = None
        self._running = False
        self._finalizer: weakref.finalize[[list[str], Path], PostgresServer] | None = None

    # -- properties -----------------------------------------------------------------------------
    @property
    def port(self) -> int:
        if self._port is None:
            raise PostgresServerError("server not started")
        return self._port

    @property
    def data_dir(self) -> Path:
        return self._root_dir / "data"

    @property
    def log_path(self) -> Path:
        return self._root_dir / "server.log"

    @property
    def bindir(self) -> Path:
        """Where this server's binaries live; psql and pgbench of the same version sit beside them."""
        return self._bindir

    @property
    def running(self) -> bool:
        return self._running

    @property
    def _root_dir(self) -> Path:
        if self._root is None:
            raise PostgresServerError("server not started")
        return self._root

    def url(self, dbname: str = "postgres") -> str:
        """SQLAlchemy URL (psycopg 3 driver) of `dbname`."""
        return f"postgresql+psycopg://{self.user}@127.0.0.1:{self.port}/{dbname}"

    def dsn(self, dbname: str = "postgres") -> str:
        """libpq keyword/value connection string, for psycopg, psql and pgbench."""
        return f"host=127.0.0.1 port={self.port} user={self.user} dbname={dbname}"

    # -- lifecycle ------------------------------------------------------------------------------
    def __enter__(self) -> PostgresServer:
        self.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    def start(self) -> None:
        """initdb (first time only), then start on a free port and wait for a real connection."""
        if self._running:
            return
        try:
            if self._root is None:
                self._initdb()
            self._start_on_free_port()
        except BaseException:
            self.stop()
            raise

    def stop(self) -> None:
        """Stop the server (fast shutdown) and remove its temp dir. Idempotent."""
        if self._root is None:
            return
        self._shutdown()
        if self._finalizer is not None:
            self._finalizer()  # removes the temp dir and detaches itself
        self._root = None
        self._port = None

    def kill(self) -> None:
        """SIGKILL the postmaster and its backends, as a crash would; the data dir stays for `restart()`."""
        pid = self._postmaster_pid()
        if pid is None:
            self._running = False
            return
        doomed = [pid, *_children(pid)]
        for victim in doomed:
            with contextlib.suppress(ProcessLookupError):
                os.kill(victim, signal.SIGKILL)
        # Wait until every old process is gone: a surviving backend still attached to the old shared
        # memory would make the next postmaster refuse to start.
        deadline = time.monotonic() + 10
        while any(alive(p) for p in doomed) and time.monotonic() < deadline:
            time.sleep(0.02)
        if any(alive(p) for p in doomed):
            raise PostgresServerError(f"server processes survived SIGKILL for 10s: {doomed}")
        # The lock files name a pid that is now dead, but a zombie (never reaped by a minimal container
        # init) or a recycled pid would make postgres refuse to start, or pg_ctl signal a stranger.
        for lock in [self.data_dir / "postmaster.pid", *(self._root_dir / "run").glob(".s.PGSQL.*.lock")]:
            lock.unlink(missing_ok=True)
        self._running = False

    def restart(self) -> None:
        """Stop (if running) and start again on the same port; after `kill()` this runs crash recovery."""
        if self._root is None:
            raise PostgresServerError("restart() needs a started server")
        self._shutdown()
        self._start(self.port)

    def create_database(self, name: str) -> None:
        with self._admin() as conn:
            conn.execute(
                sql.SQL("CREATE DATABASE {} TEMPLATE template0 ENCODING 'UTF8'").format(sql.Identifier(name))
            )

    def drop_database(self, name: str) -> None:
        """Drop `name`, closing any connections a test left open (FORCE, PostgreSQL >= 13)."""
        with self._admin() as conn:
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))

    # -- internals ------------------------------------------------------------------------------
    def _admin(self) -> psycopg.Connection[tuple[object, ...]]:
        return psycopg.connect(self.dsn("postgres"), autocommit=True, connect_timeout=10)

    def _initdb(self) -> None:
        root = Path(tempfile.mkdtemp(prefix="ordermesh-pg-", dir=self._base_dir))
        self._root = root
        # Whatever happens to this object (a test that forgets stop(), interpreter exit), do not leak a
        # postmaster or its temp dir.
        self._finalizer = weakref.finalize(self, _teardown, self._command("pg_ctl", []), root)
        if os.geteuid() == 0:
            shutil.chown(root, user="postgres", group="postgres")
        (root / "run").mkdir()
        self._own(root / "run")
        args = ["--pgdata", str(self.data_dir), "--username", self.user]
        args += ["--auth=trust", "--encoding=UTF8", "--locale=C"]
        if not self.durable:
            args.append("--no-sync")
        result = self._run("initdb", args, timeout=120)
        if result.returncode != 0:
            raise PostgresServerError(f"initdb failed ({result.returncode}):\n{result.stdout}{result.stderr}")
        conf = self.data_dir / "postgresql.conf"
        with conf.open("a") as handle:
            handle.write("\ninclude 'ordermesh.conf'\n")

    def _start_on_free_port(self) -> None:
        for attempt in range(1, _PORT_ATTEMPTS + 1):
            try:
                self._start(free_port())
                return
            except PostgresServerError:
                # Another process may have taken the port between our probe and postgres' bind.
                if attempt == _PORT_ATTEMPTS or not _PORT_IN_USE.search(self._log_tail()):
                    raise

    def _start(self, port: int) -> None:
        self._port = port
        self._write_settings(port)
        args = ["start", "-D", str(self.data_dir), "-l", str(self.log_path)]
        args += ["-w", "-t", str(_START_TIMEOUT_S)]
        result = self._run("pg_ctl", args, timeout=_START_TIMEOUT_S + 30)
        if result.returncode != 0:
            self._shutdown()
            raise self._error(f"pg_ctl start failed ({result.returncode}): {result.stderr.strip()}")
        self._running = True
        self._wait_connectable()

    def _wait_connectable(self) -> None:
        # pg_ctl -w only proves the postmaster is up; wait until a session can really be opened.
        deadline = time.monotonic() + _START_TIMEOUT_S
        last: Exception | None = None
        while time.monotonic() < deadline:
            try:
                with psycopg.connect(self.dsn("postgres"), connect_timeout=5) as conn:
                    conn.execute("SELECT 1")
                return
            except psycopg.OperationalError as exc:
                last = exc
                time.sleep(0.1)
        raise self._error(f"port {self._port} accepted no connection within {_START_TIMEOUT_S}s: {last}")

    def _shutdown(self) -> None:
        if self._root is None or self._postmaster_pid() is None:
            self._running = False
            return
        args = ["stop", "-D", str(self.data_dir), "-m", "fast", "-w", "-t", "60"]
        result = self._run("pg_ctl", args, timeout=90)
        if result.returncode != 0 and self._postmaster_pid() is not None:
            self.kill()  # a server that will not stop is crashed on purpose rather than leaked
        self._running = False

    def _write_settings(self, port: int) -> None:
        settings: dict[str, str | int | float | bool] = {
            "listen_addresses": "127.0.0.1",
            "port": port,
            "unix_socket_directories": str(self._root_dir / "run"),
            "default_transaction_isolation": "serializable",
            "max_connections": 200,
        }
        if not self.durable:
            settings.update(fsync=False, synchronous_commit=False, full_page_writes=False)
        settings.update(self._settings)
        lines = [f"{key} = {_conf_value(value)}\n" for key, value in settings.items()]
        path = self.data_dir / "ordermesh.conf"
        path.write_text("".join(lines))
        self._own(path)

    def _postmaster_pid(self) -> int | None:
        try:
            pid = int((self.data_dir / "postmaster.pid").read_text().split()[0])
        except (OSError, ValueError, IndexError, PostgresServerError):
            return None
        return pid if alive(pid) else None

    def _command(self, binary: str, args: Sequence[str]) -> list[str]:
        command = [str(self._bindir / binary), *args]
        if os.geteuid() == 0:
            # PostgreSQL refuses to run as root; the postgres OS user owns the temp dir instead.
            command = ["runuser", "-u", "postgres", "--", *command]
        return command

    def _run(self, binary: str, args: Sequence[str], timeout: float) -> subprocess.CompletedProcess[str]:
        try:
            return subprocess.run(
                self._command(binary, args),
                cwd=self._root_dir,
                env=_env(),
                capture_output=True,
                text=True,
                timeout=timeout,
                stdin=subprocess.DEVNULL,
                check=False,
            )
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise self._error(f"{binary} did not run: {exc}") from exc

    def _own(self, path: Path) -> None:
        if os.geteuid() == 0:
            shutil.chown(path, user="postgres", group="postgres")

    def _log_tail(self) -> str:
        try:
            lines = self.log_path.read_text(errors="replace").splitlines()
        except (OSError, PostgresServerError):
            return ""
        return "\n".join(lines[-_LOG_TAIL_LINES:])

    def _error(self, message: str) -> PostgresServerError:
        tail = self._log_tail()
        return PostgresServerError(f"{message}\n--- server log tail ---\n{tail}" if tail else message)


def _conf_value(value: str | int | float | bool) -> str:
    if isinstance(value, bool):
        return "on" if value else "off"
    if isinstance(value, int | float):
        return str(value)
    return "'" + value.replace("'", "''") + "'"


def _teardown(pg_ctl: list[str], root: Path) -> None:
    """Last-resort clean-up: immediate stop of a still running server, then remove the temp dir."""
    if (root / "data" / "postmaster.pid").exists():
        with contextlib.suppress(OSError, subprocess.SubprocessError):
            subprocess.run(
                [*pg_ctl, "stop", "-D", str(root / "data"), "-m", "immediate", "-w", "-t", "30"],
                cwd=root,
                env=_env(),
                capture_output=True,
                timeout=60,
                stdin=subprocess.DEVNULL,
                check=False,
            )
    shutil.rmtree(root, ignore_errors=True)
