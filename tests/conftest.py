"""Shared fixtures: one cache (stand-in corpus, RIR bank) per test session, fresh results per test."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"


@pytest.fixture(scope="session")
def session_cache(tmp_path_factory) -> Path:
    """A cache folder shared by the whole session (stand-in corpora, RIR bank, smoke
    checkpoints); under pytest-xdist one folder for all workers, as the harness's caches are
    written atomically and locked, so each stand-in is generated and each smoke model trained
    once per run."""
    if os.environ.get("PYTEST_XDIST_WORKER"):
        shared = tmp_path_factory.getbasetemp().parent / "perloc-cache-shared"
        shared.mkdir(exist_ok=True)
        return shared
    return tmp_path_factory.mktemp("perloc-cache")


@pytest.fixture(autouse=True)
def workspace(request, tmp_path, session_cache, monkeypatch) -> Path:
    """Every test writes results and leaderboards under its own tmp folder; trained smoke
    checkpoints (keyed by method, params, recipe, data, seed) are shared by the session, except
    in tests marked ``own_checkpoints`` (those that watch training happen)."""
    results = tmp_path / "results"
    monkeypatch.setenv("PERLOC_RESULTS", str(results))
    monkeypatch.setenv("PERLOC_CACHE", str(session_cache))
    if request.node.get_closest_marker("own_checkpoints") is None:
        monkeypatch.setenv("PERLOC_CHECKPOINTS", str(session_cache / "checkpoints"))
    else:
        monkeypatch.delenv("PERLOC_CHECKPOINTS", raising=False)
    monkeypatch.setenv("PERLOC_LEADERBOARDS", str(tmp_path / "leaderboards"))
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    monkeypatch.delenv("PERLOC_DATA", raising=False)
    for variable in ("PERLOC_DEVICE", "PERLOC_AMP", "PERLOC_DEVICE_CHECK", "PERLOC_WORKER_SLOT"):
        monkeypatch.delenv(variable, raising=False)  # cells run where a test says
    for variable in ("PERLOC_IMPORTS", "PERLOC_IMPORT_PATH"):  # references add to these
        monkeypatch.setenv(variable, "")
    os.environ.setdefault("OMP_NUM_THREADS", "2")
    return tmp_path


@pytest.fixture(scope="session")
def smoke_corpus(session_cache) -> Path:
    """The smoke-size TTS corpus in LibriSpeech layout (generated once per session)."""
    from perloc.datasets.synth.librispeech_tts import write_corpus

    return write_corpus(session_cache / "data" / "librispeech-tts-smoke", "smoke", progress=False)


@pytest.fixture(scope="session")
def luvira_smoke(session_cache, smoke_corpus) -> Path:
    """The smoke-size luvira-sim stand-in (published LuViRA layout), where the ssl task's smoke
    profile looks for it."""
    from perloc.datasets.librispeech import LibriSpeech
    from perloc.datasets.sim.rir_bank import RirBank
    from perloc.datasets.synth.luvira_sim import write_luvira_sim

    bank = RirBank(session_cache / "caches" / "rir-bank-luvira-v1.h5")
    return write_luvira_sim(session_cache / "data" / "luvira-sim-smoke", "smoke",
                            LibriSpeech(smoke_corpus), bank)


@pytest.fixture(scope="session")
def luvira_smoke_rsfs(session_cache, smoke_corpus, luvira_smoke) -> Path:
    """The same stand-in (same audio and motion) written in the [R-sfs] layout."""
    from perloc.datasets.librispeech import LibriSpeech
    from perloc.datasets.sim.rir_bank import RirBank
    from perloc.datasets.synth.luvira_sim import write_luvira_sim

    bank = RirBank(session_cache / "caches" / "rir-bank-luvira-v1.h5")
    return write_luvira_sim(session_cache / "data" / "luvira-sim-smoke-rsfs", "smoke",
                            LibriSpeech(smoke_corpus), bank, layout="r-sfs")


@pytest.fixture(scope="session")
def commands_smoke(session_cache) -> Path:
    """The smoke-size speech-commands-tts stand-in, where the kws smoke profile looks for it."""
    from perloc.datasets.synth.speech_commands_tts import write_commands

    return write_commands(session_cache / "data" / "speech-commands-tts-smoke", "smoke")


@pytest.fixture(scope="session")
def starss23_smoke(session_cache) -> Path:
    """The smoke-size starss23-sim stand-in (STARSS23 MIC layout), written once per session."""
    from perloc.datasets.synth.starss23_sim import write_starss23_sim

    return write_starss23_sim(session_cache / "data" / "starss23-sim-smoke", "smoke")
