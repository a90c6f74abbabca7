"""NGCC-PHAT pre-trained on microphone pairs of the localization data (Paper VII appendix).

wav2pos and Multilat* use an NGCC-PHAT trained first on the same training data and then
frozen: every example picks two distinct static microphones of a training window at random
(the reference draws them independently, so it also trains on i == j with label 0) and the
network learns their TDOA by cross-entropy over -tau_max..tau_max (tau_max = 314 for LuViRA),
on z-scored inputs. The training loop, validation and checkpoints are those of the TDOA task's
NGCC-PHAT (:class:`perloc.methods.tdoa.ngcc.NgccPhat`); labels are round(tau) + tau_max as in
Paper V (the wav2pos code truncates instead).

The recipe is the profile's ``ngcc`` option when it has one (``{"epochs", "steps_per_epoch",
"batch_size", "lr"}``, one pre-training for every method that needs it), else the calling
method's own. The checkpoint is keyed by the NGCC configuration, the training data version, the
seed and that recipe, and lives beside the calling method's checkpoint, so wav2pos and multilat-ngcc
with the same NGCC size share one pre-training.
"""

from __future__ import annotations

import dataclasses
from functools import cached_property

import numpy as np
import torch

from perloc.bench.core.protocols import FitContext
from perloc.datasets.ssl_schema import SAMPLE_RATE, SPEED_OF_SOUND
from perloc.methods.tdoa.ngcc import NGCCPHAT, NgccParams, NgccPhat
from perloc.methods.training import stage_context

PAIR_VERSION = 1


def ngcc_config(channels: int, sinc_kernel: int, max_tau: int, sig_len: int = 2048) -> NgccParams:
    """NGCC-PHAT with one width everywhere (the paper config is 128, 1023 taps)."""
    return NgccParams(sig_len=sig_len, max_tau=max_tau, channels=channels, corr_channels=channels,
                      head_channels=channels, sinc_kernel=sinc_kernel)


def _zscore(x: np.ndarray) -> np.ndarray:
    x = x - x.mean(axis=-1, keepdims=True)
    return (x / (x.std(axis=-1, keepdims=True) + 1e-8)).astype(np.float32)


def _pairs(batch, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    signals, mic_pos, source = batch["signals"], batch["mic_pos"], batch["position"]
    n, m = signals.shape[:2]
    first = rng.integers(0, m, size=n)
    second = (first + rng.integers(1, m, size=n)) % m  # distinct from first
    rows = np.arange(n)
    x = _zscore(np.stack([signals[rows, first], signals[rows, second]], axis=1))
    distance = np.linalg.norm(mic_pos.astype(np.float64) - source[:, None], axis=-1)
    tau = (distance[rows, first] - distance[rows, second]) * SAMPLE_RATE / SPEED_OF_SOUND
    return x, tau.astype(np.float32)


class PairTraining:
    """Random microphone pairs of a localization training set, as TDOA training examples."""

    def __init__(self, training) -> None:
        self.training = training

    @property
    def version(self) -> str:
        return f"pairs{PAIR_VERSION}-{self.training.version}"

    def batch(self, size: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        return _pairs(self.training.batch(size, rng), rng)

    @cached_property
    def validation(self) -> tuple[np.ndarray, np.ndarray]:
        return _pairs(self.training.validation, np.random.default_rng(7))


def pretrained_ngcc(params: NgccParams, training, ctx: FitContext) -> tuple[NGCCPHAT, dict]:
    """Train (or load) the pair NGCC-PHAT; returned frozen, in eval mode, with its curves."""
    ctx = stage_context(ctx, "ngcc", "ngcc-pairs", PAIR_VERSION,
                        [dataclasses.asdict(params), training.version])
    torch.manual_seed(ctx.seed)
    method = NgccPhat(params)
    if ctx.say:
        ctx.say(f"  NGCC-PHAT pair pre-training -> {ctx.checkpoint.name}")
    history = method.fit(PairTraining(training), ctx)
    model = method.model.eval()
    for p in model.parameters():
        p.requires_grad_(False)
    return model, {f"ngcc_{k}": v for k, v in history.items()}
