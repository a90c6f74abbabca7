"""``--executor ray`` gives the in-process scores: on a local Ray cluster the driver starts, and
across two nodes (a head started with ``ray start --head`` and a second raylet joined to it on
this machine) reached with ``--address``, where the cells run on both nodes and only the driver
writes records and MLflow runs."""

from __future__ import annotations

import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest
from cli_helpers import invoke, mlflow_runs

pytest.importorskip("ray", reason="the ray extra is part of the dev install")

REPO = Path(__file__).resolve().parents[2]
SWEEP = ("run", "tdoa", "--profile", "smoke", "-m", "gcc-phat", "-m", "gcc-roth", "--seeds",
         "0:1", "--split", "snr")


def _scores(results) -> dict:
    out = {}
    for path in results.glob("runs/tdoa/smoke/*.json"):
        record = json.loads(path.read_text())
        out[record["key"]] = (record["status"], record["scores"])
    return out


def test_ray_sweep_matches_in_process(capsys, workspace, monkeypatch):
    assert invoke(capsys, *SWEEP).code == 0
    local = _scores(workspace / "results")
    monkeypatch.setenv("PERLOC_RESULTS", str(workspace / "ray"))
    outcome = invoke(capsys, *SWEEP, "--executor", "ray", "--jobs", "2")
    assert outcome.code == 0, outcome.err
    assert "ray on a local Ray cluster" in outcome.err
    assert len(local) == 8 and _scores(workspace / "ray") == local


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _listening(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) == 0


def _wait(ready, what: str, nodes: list, timeout: float = 120.0) -> None:
    """Poll ``ready()`` until true; fail naming ``what``, with the log of a ``ray start`` of
    ``nodes`` ((process, log) pairs) that exited."""
    deadline = time.monotonic() + timeout
    while not ready():
        dead = [log for proc, log in nodes if proc.poll() is not None]
        assert not dead, f"{what}: ray start exited: {dead[0].read_text()}"
        assert time.monotonic() < deadline, f"{what}: not after {timeout:.0f} s"
        time.sleep(0.2)


def _ray_start(env: dict, log: Path, *args: str) -> tuple[subprocess.Popen, Path]:
    """``ray start --block`` (this interpreter's Ray) in a new session, so that stopping its
    process group stops exactly the processes this node started (``ray stop`` would stop every
    Ray on the machine): (process, log)."""
    command = [sys.executable, "-m", "ray.scripts.scripts", "start", "--block",
               "--disable-usage-stats", "--node-ip-address", "127.0.0.1", "--num-cpus", "1",
               *args]
    with log.open("w") as out:
        return subprocess.Popen(command, env=env, stdout=out, stderr=subprocess.STDOUT,
                                start_new_session=True), log


def _stop(proc: subprocess.Popen) -> list[int]:
    """Stop a node: SIGTERM its process group, SIGKILL what is left after 3 s (a head drains
    for up to 30 s), then wait until its session is empty. Returns the processes still
    running after 20 s (zombies, already dead, are not counted)."""
    for sig in (signal.SIGTERM, signal.SIGKILL):
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            break
        try:
            proc.wait(timeout=3)
        except subprocess.TimeoutExpired:
            pass
    deadline = time.monotonic() + 20
    while (left := _running_in_session(proc.pid)) and time.monotonic() < deadline:
        time.sleep(0.2)
    return left


def _running_in_session(sid: int) -> list[int]:
    """Live processes of session ``sid`` (read from /proc: none found where there is none)."""
    found = []
    for entry in Path("/proc").iterdir() if Path("/proc").is_dir() else ():
        try:
            if (entry.name.isdigit() and os.getsid(int(entry.name)) == sid
                    and (entry / "stat").read_text().rpartition(")")[2].split()[0] != "Z"):
                found.append(int(entry.name))
        except (OSError, IndexError):
            continue
    return found


_NODES = """
import json, sys, time, ray
ray.init(address=sys.argv[1], log_to_driver=False)
deadline = time.monotonic() + 120
while len(alive := [n["NodeID"] for n in ray.nodes() if n["Alive"]]) < 2:
    assert time.monotonic() < deadline, ray.nodes()
    time.sleep(0.2)
print(json.dumps(alive))
"""


def _two_alive_nodes(address: str, env: dict) -> list[str]:
    """The cluster's node ids once two nodes are alive, read by a fresh Ray client."""
    done = subprocess.run([sys.executable, "-c", _NODES, address], env=env, capture_output=True,
                          text=True, timeout=180)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.splitlines()[-1])


@pytest.fixture
def two_nodes():
    """A Ray head and a second node joined to it, both on 127.0.0.1 with one CPU each: yields
    (address, environment for Ray clients, the two node ids). Token authentication with a
    token of its own; everything under a short temporary folder (Ray's socket paths are
    limited); both nodes are stopped afterwards, always, and none of their processes may
    survive."""
    temp = Path(tempfile.mkdtemp(prefix="ray2n-", dir="/tmp"))
    token = temp / "auth_token"
    token.write_text(secrets.token_hex(16))
    env = {k: v for k, v in os.environ.items() if not k.startswith("RAY_")}
    env.update(RAY_AUTH_MODE="token", RAY_AUTH_TOKEN_PATH=str(token), RAY_TMPDIR=str(temp))
    port = _free_port()
    address = f"127.0.0.1:{port}"
    nodes = [_ray_start(env, temp / "head.log", "--head", "--port", str(port),
                        "--ray-client-server-port", str(_free_port()),
                        "--include-dashboard=false", "--temp-dir", str(temp))]
    try:
        _wait(lambda: _listening(port), "the head", nodes)
        nodes.append(_ray_start(env, temp / "worker.log", "--address", address))
        yield address, env, _two_alive_nodes(address, env)
    finally:
        left = [pid for proc, _ in reversed(nodes) for pid in _stop(proc)]
        shutil.rmtree(temp, ignore_errors=True)
        assert not left, f"processes of the test's Ray nodes survived: {left}"


@pytest.mark.slow
def test_two_node_cluster_gives_the_jobs_1_scores_and_only_the_driver_writes(
        capsys, workspace, monkeypatch, two_nodes):
    address, env, alive = two_nodes
    assert invoke(capsys, *SWEEP, "--jobs", "1").code == 0
    reference = _scores(workspace / "results")
    assert len(reference) == 8
    results, trace = workspace / "ray", workspace / "trace"
    env = {**env, "PERLOC_RESULTS": str(results), "PERLOC_FAULTS": f"trace={trace}"}
    driver = subprocess.Popen([sys.executable, "-m", "perloc.bench.cli.main", *SWEEP,
                               "--executor", "ray", "--address", address], env=env, cwd=REPO,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    out, err = driver.communicate(timeout=300)
    assert driver.returncode == 0, err
    assert f"running 8 cells on ray on {address}" in err
    assert _scores(results) == reference
    # every cell ran once, in a Ray worker (never the driver), and both nodes ran cells
    ran = [json.loads(p.read_text()) for p in trace.glob("*.json")]
    assert sorted(r["key"] for r in ran) == sorted(reference)
    assert driver.pid not in {r["pid"] for r in ran}
    assert {r["ray_node"] for r in ran} == set(alive)
    # the driver alone wrote: one record and one MLflow run per cell; no worker loaded mlflow
    assert not any(r["mlflow_imported"] for r in ran)
    assert len(list(results.glob("runs/tdoa/smoke/*.json"))) == 8
    _, runs = mlflow_runs(results, "tdoa")
    assert sorted(r.data.tags["cell_key"] for r in runs) == sorted(reference)
