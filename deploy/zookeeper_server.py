"""Launch a real, throwaway, single-node ZooKeeper server (tests, drills and `ordermesh up`).

Failure semantics: `start()` returns only once a real client session has been opened and `/` read;
otherwise it kills the JVM and raises `ZooKeeperStartError` carrying the tail of the server log.
`stop()`/`kill()` never raise for a server that is already gone. `pause()` (SIGSTOP) freezes the
server without closing sockets, so clients see a silent peer: their sessions go SUSPENDED, then LOST.

Usage::

    with ZooKeeperServer() as zk:
        client = KazooClient(hosts=zk.hosts)
"""

from __future__ import annotations

import glob
import logging
import os
import shutil
import signal
import subprocess
import tempfile
import time
from pathlib import Path
from types import TracebackType

from kazoo.client import KazooClient

from deploy.processes import free_port

# Debian ships zookeeper.jar with a manifest Class-Path listing its dependencies under
# /usr/share/java; an upstream tarball keeps them all in lib/. slf4j-simple makes the server log
# to stderr, which we redirect into the log file (without a binding slf4j would log nothing).
_JAR_GLOBS = (
    "{home}/lib/*.jar",
    "{home}/*.jar",
    "/usr/share/zookeeper/lib/*.jar",
    "/usr/share/java/zookeeper.jar",
    "/usr/share/java/zookeeper-jute.jar",
    "/usr/share/java/slf4j-api.jar",
    "/usr/share/java/slf4j-simple.jar",
)
_MAIN = "org.apache.zookeeper.server.ZooKeeperServerMain"
# "Connection refused" while the JVM boots is expected: keep the readiness probe quiet.
_PROBE_LOG = logging.getLogger(__name__ + ".probe")
_PROBE_LOG.setLevel(logging.CRITICAL)


class ZooKeeperStartError(RuntimeError):
    """The server did not come up (or did not serve a session) in time; the message has its log tail."""


def zookeeper_classpath(home: str | None = None) -> list[str]:
    """The jars to run a ZooKeeper server: `$ZOOKEEPER_HOME`, the upstream layout, or Debian's."""
    home = home or os.environ.get("ZOOKEEPER_HOME", "/nonexistent")
    jars: list[str] = []
    for pattern in _JAR_GLOBS:
        for jar in sorted(glob.glob(pattern.format(home=home))):
            # An upstream lib/ ships its own slf4j binding; two bindings only cause a warning.
            if jar not in jars:
                jars.append(jar)
    if not any("zookeeper" in Path(j).name and "jute" not in Path(j).name for j in jars):
        raise ZooKeeperStartError(
            "no ZooKeeper jars found: install Debian's `zookeeper` package or set ZOOKEEPER_HOME"
        )
    return jars


class ZooKeeperServer:
    """One ZooKeeper server process with its own temp dir, config, data and log."""

    def __init__(
        self,
        *,
        port: int | None = None,
        tick_ms: int = 500,
        max_session_timeout_ms: int = 60_000,
        java: str = "java",
        base_dir: str | None = None,
        start_timeout: float = 30.0,
    ) -> None:
        self.port = port or free_port()
        self.tick_ms = tick_ms
        self.start_timeout = start_timeout
        self._java = java
        self._own_dir = base_dir is None
        self.dir = Path(base_dir or tempfile.mkdtemp(prefix="ordermesh-zk-"))
        self.data_dir = self.dir / "data"
        self.log_path = self.dir / "zookeeper.log"
        self.config_path = self.dir / "zoo.cfg"
        self._max_session_ms = max_session_timeout_ms
        self._proc: subprocess.Popen[bytes] | None = None

    @property
    def hosts(self) -> str:
        """The connect string for kazoo: "127.0.0.1:PORT"."""
        return f"127.0.0.1:{self.port}"

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc is not None else None

    def is_running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def _write_config(self) -> None:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        # Sessions may be as short as 2 ticks (1 s), so tests can expire sessions quickly.
        self.config_path.write_text(
            "\n".join(
                [
                    f"tickTime={self.tick_ms}",
                    f"dataDir={self.data_dir}",
                    f"clientPort={self.port}",
                    "clientPortAddress=127.0.0.1",
                    "admin.enableServer=false",
                    "4lw.commands.whitelist=ruok,stat,srvr,mntr,cons",
                    f"minSessionTimeout={2 * self.tick_ms}",
                    f"maxSessionTimeout={self._max_session_ms}",
                    "maxClientCnxns=0",
                    "autopurge.purgeInterval=0",
                    "",
                ]
            )
        )

    def start(self) -> None:
        """Start the JVM and wait until a real client session works; raises ZooKeeperStartError."""
        if self.is_running():
            return
        self._write_config()
        classpath = os.pathsep.join([str(self.dir), *zookeeper_classpath()])
        cmd = [self._java, "-Xmx256m", "-XX:+UseSerialGC", "-cp", classpath, _MAIN, str(self.config_path)]
        with open(self.log_path, "ab") as log:
            self._proc = subprocess.Popen(
                cmd,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                cwd=self.dir,
                start_new_session=True,  # a Ctrl-C to the test run must not hit the JVM before we stop it
            )
        try:
            self._wait_for_session(time.monotonic() + self.start_timeout)
        except ZooKeeperStartError:
            self.kill()
            raise

    def _wait_for_session(self, deadline: float) -> None:
        last_error = "no attempt"
        while time.monotonic() < deadline:
            if self._proc is None or self._proc.poll() is not None:
                code = self._proc.returncode if self._proc else None
                raise ZooKeeperStartError(
                    f"ZooKeeper exited with {code} (log: {self.log_path})\n{self.log_tail()}"
                )
            client = KazooClient(
                hosts=self.hosts, timeout=2.0, connection_retry={"max_tries": 0}, logger=_PROBE_LOG
            )
            try:
                client.start(timeout=min(2.0, max(0.1, deadline - time.monotonic())))
                client.get("/")
                return
            except Exception as exc:  # any failure here just means "not ready yet"
                last_error = f"{type(exc).__name__}: {exc}"
            finally:
                client.stop()
                client.close()
            time.sleep(0.2)
        raise ZooKeeperStartError(
            f"ZooKeeper on {self.hosts} served no session within {self.start_timeout}s "
            f"(last error: {last_error}; log: {self.log_path})\n{self.log_tail()}"
        )

    def log_tail(self, lines: int = 40) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return "(no log)"
        return "\n".join(text.splitlines()[-lines:])

    def _signal(self, sig: signal.Signals) -> None:
        if self.is_running():
            assert self._proc is not None
            self._proc.send_signal(sig)

    def stop(self, timeout: float = 10.0) -> None:
        """SIGTERM, then SIGKILL after `timeout`; a no-op when the server is not running."""
        if self._proc is None:
            return
        self._signal(signal.SIGCONT)  # a paused JVM cannot handle SIGTERM
        self._signal(signal.SIGTERM)
        try:
            self._proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.kill()
        self._proc = None

    def kill(self) -> None:
        """SIGKILL: a crash, with no clean shutdown."""
        if self._proc is None:
            return
        self._signal(signal.SIGKILL)
        self._proc.wait(10.0)
        self._proc = None

    def restart(self) -> None:
        """Stop and start on the same port and data dir: sessions survive if clients come back in time."""
        self.stop()
        self.start()

    def pause(self) -> None:
        """SIGSTOP: the server keeps its sockets open but answers nothing."""
        self._signal(signal.SIGSTOP)

    def resume(self) -> None:
        """SIGCONT after `pause()`."""
        self._signal(signal.SIGCONT)

    def cleanup(self) -> None:
        """Stop the server and remove its temp dir (if this object created it)."""
        self.stop()
        if self._own_dir:
            shutil.rmtree(self.dir, ignore_errors=True)

    def __enter__(self) -> ZooKeeperServer:
        self.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.cleanup()
