"""Property-style: every way of breaking a LuViRA file (``tests/datasets/corruption.py``), in
a test trajectory, a training trajectory and the stand-in's marker, in the published layout
(tracks, Sync.wav, the ground-truth CSV) and the [R-sfs] layout (info.json,
gt_positions.csv), either fails as ONE
UserError line naming the broken file, or reads as the untouched data (an irrelevant file),
or, where the damaged file is still valid (random bytes inside 16-bit PCM samples), reads
under a new dataset version. Never another exception, never changed data under the old
version. "Everything" is what the ssl task reads: the test batches of its grid and the
training windows (recorded; the simulated pool is rendered from the same source tracks)."""

from __future__ import annotations

import hashlib
import shutil
from pathlib import Path

import numpy as np
import pytest

from perloc.bench.core.errors import UserError
from perloc.datasets.luvira import Luvira
from perloc.datasets.ssl_luvira import LuviraTest, LuviraTrainConfig, LuviraTraining
from tests.datasets.corruption import CORRUPTIONS, linked_copy

GRID = {"setup": ("1_a", "2_a"), "mics": (5, 11)}
FILES = {  # (layout, file) -> role
    ("published", "music0003/Track 2.wav"): "test track",
    ("published", "speech0001/Track 12.wav"): "training source track",
    ("published", "music0001/Sync.wav"): "mocap start signal (not read)",
    ("published", "speech0003/speech0003_gt.csv"): "test ground truth",
    ("published", "music0002/music0002_gt.csv"): "training ground truth",
    ("published", ".perloc-luvira-sim.json"): "stand-in marker (provenance only)",
    ("r-sfs", "music0001/info.json"): "training info.json",
    ("r-sfs", "speech0003/gt_positions.csv"): "test ground truth",
}
# outcomes that must happen whatever the random draw; others may go either way
ALWAYS = {
    **{(f, how): "error" for _, f in FILES if f.endswith(".wav") and "Sync" not in f
       for how in ("truncate", "wrong_header", "wrong_encoding")},
    **{("music0001/info.json", how): "error"
       for how in ("truncate", "wrong_header", "wrong_encoding")},
    **{(f, "wrong_encoding"): "error" for _, f in FILES if f.endswith(".csv")},
    **{(f, how): "same" for f in (".perloc-luvira-sim.json", "music0001/Sync.wav")
       for how in CORRUPTIONS},
}


def _fingerprint(*arrays) -> str:
    h = hashlib.blake2b(digest_size=16)
    for a in arrays:
        a = np.asarray(a)
        h.update(f"{a.dtype}{a.shape}".encode())
        h.update(a.tobytes() if a.dtype != object else repr(a.tolist()).encode())
    return h.hexdigest()


def read_everything(root: Path) -> tuple[str, str]:
    """(dataset version, fingerprint of every array the ssl task would read)."""
    data = Luvira(root)
    arrays = []
    for batch in LuviraTest(data, GRID).batches("test", 256):
        arrays += [batch.data[k] for k in sorted(batch.data)]
        arrays += [batch.meta[k] for k in sorted(batch.meta)]
    training = LuviraTraining(data, LuviraTrainConfig(augment=None))
    for batch in (training.validation, training.batch(16, np.random.default_rng(0))):
        arrays += [batch.data[k] for k in sorted(batch.data)]
    arrays += [*training.position_stats(), *training._starts[1]]
    return data.version, _fingerprint(*arrays)


@pytest.fixture(scope="module")
def roots(luvira_smoke, luvira_smoke_rsfs) -> dict[str, Path]:
    return {"published": luvira_smoke, "r-sfs": luvira_smoke_rsfs}


@pytest.fixture(scope="module")
def reference(roots) -> dict[str, tuple[str, str]]:
    return {layout: read_everything(root) for layout, root in roots.items()}


def _damaged_copy(original: Path, out: Path, relative: str, how: str, seed: int) -> Path:
    """A hard-linked copy of the stand-in whose ``relative`` file alone is a real copy,
    broken by ``how`` (the session's stand-in stays intact)."""
    victim = linked_copy(original, out) / relative
    victim.unlink()
    shutil.copyfile(original / relative, victim)
    CORRUPTIONS[how](victim, np.random.default_rng(seed))
    return out


@pytest.mark.parametrize("how", sorted(CORRUPTIONS))
@pytest.mark.parametrize("layout,relative", list(FILES))
def test_a_broken_file_is_named_or_harmless(roots, reference, tmp_path, layout, relative, how):
    seed = int.from_bytes(hashlib.sha1(f"{relative}|{how}".encode()).digest()[:4], "little")
    root = _damaged_copy(roots[layout], tmp_path / "luvira", relative, how, seed)
    try:
        version, fingerprint = read_everything(root)
    except UserError as exc:
        message = str(exc)
        assert "\n" not in message and str(root / relative) in message, message
        outcome = "error"
    else:
        if fingerprint == reference[layout][1]:
            outcome = "same"
        else:  # a valid file with other content: it must not pass as the old data
            assert version != reference[layout][0], \
                f"{relative} ({how}): data changed, version did not"
            outcome = "new version"
    assert ALWAYS.get((relative, how), outcome) == outcome, (relative, how, outcome)
