"""A tracking server that may go away: a sweep goes on without it, ``bench sync`` catches up.

``server_down`` asks a server's ``/health`` (a few seconds at most); ``unreachable`` tells an
error raised while logging that means "the server is gone" (a refused or dropped connection,
a timeout, 5xx answers after MLflow's retries) from any other. While perloc logs to a server,
MLflow's HTTP retries are bounded (``http_limits``: 2 retries 1 s apart, 30 s per request,
unless ``MLFLOW_HTTP_REQUEST_*`` are set), so a server that dies during a write costs seconds,
not MLflow's default four minutes of retries.

``SweepMirror`` is the driver's mirror: each record is logged once it is saved; when the
server does not answer, the record joins a backlog and the sweep goes on; the backlog is
logged first once the server answers again, and what is left at the end is the sweep's
``unmirrored`` list, which its summary names. ``sync`` logs every record whose cell has no run
of it (``mlflow_mirror`` finds a cell's runs by the ``cell_key`` tag, so a second sync logs
nothing).
"""

from __future__ import annotations

import http.client
import re
import ssl
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from perloc.bench.core.errors import UserError
from perloc.bench.core.record import RunRecord
from perloc.bench.store import record_files
from perloc.bench.store.locking import results_lock
from perloc.bench.store.mlflow_mirror import causes, env_defaults, log_records, store_name

PROBE_TIMEOUT_S = 5.0
HTTP_LIMITS = {"MLFLOW_HTTP_REQUEST_MAX_RETRIES": "2",
               "MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR": "1",
               "MLFLOW_HTTP_REQUEST_TIMEOUT": "30"}
_REASONS = (re.compile(r"\[Errno -?\d+\] ([^'\"\])]+)"),
            re.compile(r"(too many \d+ error responses)"),
            re.compile(r"RemoteDisconnected\('([^']+)'"),
            re.compile(r"(timed out)"))


def is_server(uri: str) -> bool:
    """True for a tracking server URI (``http://``, ``https://``)."""
    return uri.startswith(("http://", "https://"))


def server_down(uri: str, timeout: float = PROBE_TIMEOUT_S) -> str | None:
    """Why the server at ``uri`` does not answer its ``/health``, or None when it answers
    (any HTTP answer counts: auth, proxies and path prefixes are MLflow's business)."""
    try:
        with urllib.request.urlopen(f"{uri.rstrip('/')}/health", timeout=timeout):
            return None
    except urllib.error.HTTPError:
        return None
    except (OSError, ValueError, http.client.HTTPException) as exc:  # refused, not HTTP ...
        reason = getattr(exc, "reason", None) or exc
        if isinstance(reason, ssl.SSLError):  # it answered; trusting it is MLflow's setting
            return None
        text = " ".join(str(reason).split())  # one line
        if isinstance(exc, http.client.HTTPException):  # it answered, not in HTTP
            return f"{type(exc).__name__}: {text}"
        return text


def unreachable(exc: BaseException) -> str | None:
    """A short reason when ``exc`` (from an MLflow call) means the server is gone or not
    working, else None (told by the exception types MLflow's HTTP client wraps)."""
    import requests

    gone = (requests.exceptions.ConnectionError, requests.exceptions.Timeout,
            requests.exceptions.RetryError, ConnectionError, TimeoutError)
    for link in causes(exc):
        if isinstance(link, gone):
            text = str(link)
            found = (pattern.search(text) for pattern in _REASONS)
            match = next((m for m in found if m), None)
            return match.group(1).strip() if match else type(link).__name__
    return None


def http_limits():
    """Bound MLflow's HTTP retries and timeouts (``HTTP_LIMITS``) where the user set none."""
    return env_defaults(HTTP_LIMITS)


class SweepMirror:
    """Logs a sweep's records to MLflow as they are saved; a server that stops answering
    does not stop the sweep (see the module docstring). Other failures (a full disk under a
    local store) are raised as before."""

    def __init__(self, uri: str, artifact_root: Path, say: Callable[[str], None]) -> None:
        self.uri, self.artifact_root, self.say = uri, artifact_root, say
        self.backlog: list[RunRecord] = []
        self.down: str | None = None  # why the server does not answer, while it does not

    @property
    def unmirrored(self) -> list[RunRecord]:
        return list(self.backlog)

    def log(self, record: RunRecord) -> None:
        """Log ``record`` (after any backlog), or keep it in the backlog."""
        self.backlog.append(record)
        reason = server_down(self.uri) if is_server(self.uri) else None
        if reason is not None:
            return self._gone(record.task, reason)
        missed = len(self.backlog) - 1
        with http_limits():
            while self.backlog:
                try:
                    log_records(self.backlog[:1], self.uri, self.artifact_root)
                except Exception as exc:
                    reason = unreachable(exc) if is_server(self.uri) else None
                    if reason is None:
                        raise
                    return self._gone(record.task, reason)
                self.backlog.pop(0)
        if self.down is not None:
            self.say(f"MLflow server {self.uri} answers again; the {missed} records it missed "
                     "are mirrored")
            self.down = None

    def _gone(self, task: str, reason: str) -> None:
        if self.down is None:
            self.say(f"MLflow server {self.uri} does not answer ({reason}); the command goes "
                     f"on and its records are saved; `bench sync {task}` mirrors them when the "
                     "server is back")
        self.down = reason


def mirror_saved(records: list[RunRecord], uri: str, artifact_root: Path,
                 say: Callable[[str], None]) -> None:
    """Log records already saved (``bench compare``, ``bench score``) as a sweep does: a
    server that does not answer is said once and the command goes on (``bench sync``
    mirrors what it missed)."""
    mirror = SweepMirror(uri, artifact_root, say)
    for record in records:
        mirror.log(record)


@dataclass(frozen=True)
class Synced:
    """What ``sync`` did for one task."""

    task: str
    mirrored: int  # records logged now
    had_run: int  # records whose cell already had a run of them (or of a newer record)


def sync(uri: str, results: Path, tasks: list[str]) -> list[Synced]:
    """Log every record of ``tasks`` under ``results/runs`` whose cell has no run of it
    (each under the results lock); a server that stops answering is one UserError line
    saying how far it got."""
    out, done = [], 0
    with http_limits():
        for task in tasks:
            records = record_files.load_all(results / "runs", task)
            mirrored = 0
            for record in records:
                try:
                    with results_lock(results):
                        mirrored += bool(log_records([record], uri, results / "mlartifacts"))
                except Exception as exc:
                    reason = unreachable(exc) if is_server(uri) else None
                    if reason is None:
                        raise
                    raise UserError(f"MLflow server {store_name(uri)} stopped answering "
                                    f"({reason}) after {done} records; run `bench sync` again "
                                    "when it is back") from None
                done += 1
            out.append(Synced(task, mirrored, len(records) - mirrored))
    return out
