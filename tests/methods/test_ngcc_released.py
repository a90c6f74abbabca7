"""The authors' released NGCC-PHAT checkpoint as a harness method on the TTS stand-in."""

from pathlib import Path

import pytest

from perloc.bench.core.errors import UserError
from perloc.bench.core.registry import METHODS
from perloc.datasets.librispeech import LibriSpeech
from perloc.datasets.sim.rir_bank import RirBank
from perloc.datasets.tdoa_rooms import TdoaRooms
from perloc.methods.tdoa.ngcc import ReleasedParams
from perloc.metrics.tdoa import hit_percent

CHECKPOINT = Path(__file__).resolve().parents[2].parent / "shared" / "reference" / "ngcc" / "model.pth"
needs_checkpoint = pytest.mark.skipif(not CHECKPOINT.is_file(),
                                      reason=f"authors' checkpoint not found at {CHECKPOINT}")


@needs_checkpoint
def test_released_model_beats_gcc_phat_at_t60_02_snr_30(smoke_corpus, session_cache):
    rooms = TdoaRooms(LibriSpeech(smoke_corpus), RirBank(session_cache / "caches" / "rir-bank-v1.h5"),
                      {"snr": (30,), "t60": (0.2,)}, seed=0, n_utterances=None)
    batch = next(rooms.batches("test", 1000))
    assert len(batch) == 6 * 15
    released = METHODS.get("ngcc-phat-released")(ReleasedParams(str(CHECKPOINT)))
    acc = {name: hit_percent(method.predict(batch)["tau"], batch["tau"], 10.0).mean()
           for name, method in (("ngcc", released), ("gcc", METHODS.get("gcc-phat")()))}
    assert acc["ngcc"] > acc["gcc"], acc


def test_missing_checkpoint_is_a_clear_error(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("PERLOC_NGCC_CHECKPOINT", raising=False)
    with pytest.raises(UserError, match="-p checkpoint: .*model.pth was not found"):
        METHODS.get("ngcc-phat-released")(ReleasedParams())
    bad = tmp_path / "bad.pth"
    bad.write_bytes(b"not a checkpoint")
    with pytest.raises(UserError, match="-p checkpoint"):
        METHODS.get("ngcc-phat-released")(ReleasedParams(str(bad)))


@needs_checkpoint
@pytest.mark.parametrize("t", [4, -9])
def test_trained_model_correlations_shift_with_the_input(t):
    """The released (trained) weights keep the equivariance: with a circular GCC (n_fft = N),
    rolling x1 by t samples rolls every per-channel correlation by t lags."""
    import torch

    from perloc.methods.tdoa.ngcc import NgccParams, load_reference

    model = load_reference(CHECKPOINT, NgccParams(n_fft=2048)).eval()
    generator = torch.Generator().manual_seed(0)
    x1, x2 = torch.randn(1, 2048, generator=generator), torch.randn(1, 2048, generator=generator)
    with torch.no_grad():
        f2 = model.backbone_features(x2)
        torch.testing.assert_close(model.backbone_features(x1.roll(t, -1)),
                                   model.backbone_features(x1).roll(t, -1), rtol=1e-4, atol=1e-4)
        ref = model.correlate(model.backbone_features(x1), f2)
        shifted = model.correlate(model.backbone_features(x1.roll(t, -1)), f2)
    a, b = (shifted[..., t:], ref[..., :-t]) if t > 0 else (shifted[..., :t], ref[..., -t:])
    assert (a - b).abs().max() <= 1e-4 * ref.abs().max()
