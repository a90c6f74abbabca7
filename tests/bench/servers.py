"""Throwaway servers for the team-path tests: a free port, waiting until a URL answers, an
``mlflow server`` and a PostgreSQL cluster from the machine's PostgreSQL server binaries.

Every server runs in its own process group and is stopped at the end of its ``with`` block,
also when the test fails. A server that does not come up fails the test with its log (never
a skip: CI has the binaries, and a missing one is a broken set-up, not a reason to pass).
"""

from __future__ import annotations

import contextlib
import glob
import os
import pwd
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

START_TIMEOUT_S = 180.0


def free_port() -> int:
    """A TCP port on 127.0.0.1 nothing listens on now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def answers(url: str, timeout: float = 2.0) -> bool:
    """True when an HTTP GET of ``url`` returns 200."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            return response.status == 200
    except OSError:
        return False


def wait_until_answers(url: str, process: subprocess.Popen, log: Path,
                       timeout: float = START_TIMEOUT_S) -> None:
    """Poll ``url`` until it answers; fail the test (with the server's log) when the process
    exits first or ``timeout`` passes."""
    deadline = time.monotonic() + timeout
    while not answers(url):
        if process.poll() is not None or time.monotonic() > deadline:
            stop_group(process)
            pytest.fail(f"{url} did not answer (exit {process.returncode}):\n"
                        + log.read_text(errors="replace")[-4000:])
        time.sleep(0.5)


def stop_group(process: subprocess.Popen, sig: int = signal.SIGTERM) -> None:
    """Signal the process group of ``process`` (started with ``start_new_session``) and reap
    it; SIGKILL when it has not gone after 30 s."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, sig)
    try:
        process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=30)


@dataclass
class MlflowServer:
    """A running ``mlflow server`` on 127.0.0.1 (``url``); ``kill`` is the crash, ``start``
    brings it back on the same port, store and artifact root."""

    backend: str
    artifacts: Path
    log: Path
    port: int
    process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> MlflowServer:
        # ``python -m mlflow``: the console script's shebang may name another interpreter
        handle = open(self.log, "a")  # noqa: SIM115  (the server writes to it until stopped)
        self.process = subprocess.Popen(
            [sys.executable, "-m", "mlflow", "server", "--host", "127.0.0.1", "--port",
             str(self.port), "--workers", "1", "--backend-store-uri", self.backend,
             "--artifacts-destination", str(self.artifacts)],
            stdout=handle, stderr=subprocess.STDOUT, start_new_session=True)
        handle.close()
        wait_until_answers(f"{self.url}/health", self.process, self.log)
        return self

    def kill(self) -> None:
        """SIGKILL the server and its workers: a crash, nothing flushed."""
        if self.process is not None:
            stop_group(self.process, signal.SIGKILL)
            self.process = None

    def stop(self) -> None:
        if self.process is not None:
            stop_group(self.process)
            self.process = None


@contextlib.contextmanager
def mlflow_server(folder: Path, backend: str | None = None) -> Iterator[MlflowServer]:
    """An ``mlflow server`` with ``backend`` (default: a SQLite file in ``folder``) and its
    artifacts under ``folder/artifacts``; stopped at the end."""
    try:
        import mlflow.server  # noqa: F401  (the full mlflow package, not mlflow-skinny)
    except ImportError:
        pytest.fail("the mlflow server is missing (dev extra: pip install -e '.[dev]')")
    folder.mkdir(parents=True, exist_ok=True)
    server = MlflowServer(backend or f"sqlite:///{folder / 'server.db'}", folder / "artifacts",
                          folder / "server.log", free_port())
    try:
        yield server.start()
    finally:
        server.stop()


def _postgres_bin() -> Path:
    """The folder of the PostgreSQL server binaries (``pg_config --bindir``, else the newest
    /usr/lib/postgresql/*/bin)."""
    candidates = []
    if shutil.which("pg_config"):
        found = subprocess.run(["pg_config", "--bindir"], capture_output=True, text=True)
        candidates.append(found.stdout.strip())
    candidates += sorted(glob.glob("/usr/lib/postgresql/*/bin"),
                         key=lambda p: int(Path(p).parent.name), reverse=True)
    for folder in candidates:
        if folder and (Path(folder) / "initdb").exists():
            return Path(folder)
    pytest.fail("PostgreSQL server binaries (initdb, pg_ctl) not found: on Debian, "
                "apt-get install postgresql")


def _as_postgres_user() -> list[str]:
    """initdb, pg_ctl and postgres refuse to run as root: as root, run them as the
    ``postgres`` system user (``runuser``); as anyone else, as that user."""
    if os.geteuid() != 0:
        return []
    try:
        pwd.getpwnam("postgres")
    except KeyError:
        pytest.fail("running as root and there is no 'postgres' system user to run initdb as")
    return ["runuser", "-u", "postgres", "--"]


@contextlib.contextmanager
def postgres_cluster(database: str = "mlflow") -> Iterator[str]:
    """A throwaway PostgreSQL cluster on 127.0.0.1 with one empty database; yields its
    SQLAlchemy URL (``postgresql+psycopg://``, the psycopg 3 driver of the server extra).
    The cluster lives in a fresh folder under the system temp folder (the ``postgres`` user
    cannot enter pytest's root-only folders) and is stopped and deleted at the end."""
    import psycopg

    binaries, runner = _postgres_bin(), _as_postgres_user()
    folder = Path(tempfile.mkdtemp(prefix="perloc-pg-"))
    data, log, port = folder / "data", folder / "postgres.log", free_port()
    if runner:
        shutil.chown(folder, user="postgres")
    try:
        init = subprocess.run([*runner, str(binaries / "initdb"), "-D", str(data), "-U",
                               "postgres", "--auth=trust", "-E", "UTF8", "--no-sync"],
                              capture_output=True, text=True, timeout=120)
        if init.returncode != 0:
            pytest.fail(f"initdb failed: {init.stderr}")
        options = (f"-p {port} -k {folder} -c listen_addresses=127.0.0.1 -c fsync=off "
                   "-c full_page_writes=off")
        pg = subprocess.run([*runner, str(binaries / "pg_ctl"), "-D", str(data), "-l", str(log),
                             "-o", options, "-w", "-t", "120", "start"],
                            capture_output=True, text=True, timeout=180)
        if pg.returncode != 0:
            pytest.fail(f"PostgreSQL did not start: {pg.stderr}\n"
                        + (log.read_text(errors="replace") if log.exists() else ""))
        admin = f"postgresql://postgres@127.0.0.1:{port}/postgres"
        with psycopg.connect(admin, autocommit=True) as connection:
            connection.execute(f"CREATE DATABASE {database}")
        yield f"postgresql+psycopg://postgres@127.0.0.1:{port}/{database}"
    finally:
        if (data / "postmaster.pid").exists():  # also after a start that timed out
            subprocess.run([*runner, str(binaries / "pg_ctl"), "-D", str(data), "-m",
                            "immediate", "-w", "stop"], capture_output=True, timeout=120)
        shutil.rmtree(folder, ignore_errors=True)
