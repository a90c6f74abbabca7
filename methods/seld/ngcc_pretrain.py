"""Pre-training of Paper VI's multi-target NGCC-PHAT on TDOA targets (spec seld.md §4.3-4.4).

Samples are single 100 ms label frames (5 windows of 480 samples, 4 microphones) of the
training files that hold at least one usable event; targets are the TDOA classes of up to
three events per frame and microphone pair (:func:`perloc.datasets.seld_labels.tdoa_targets`,
events of the A0, B0 and B1 slots, classes in random order), and the loss is the multi-target
PIT cross-entropy with the permutation chosen per microphone pair
(:func:`perloc.methods.seld.losses.pit_tdoa_loss`). Optimiser: AdamW, weight decay 0.05,
constant learning rate (the code's 1e-4 or the paper's 1e-3: the profile's ``ngcc`` recipe
says which), the final weights kept. The audio is divided by each channel's standard deviation
over the training frames (the reference standardises raw chunks per column).

The recipe is the profile's ``ngcc`` option (``{"epochs", "steps_per_epoch", "batch_size",
"lr"}``), else the calling method's own. The checkpoint is keyed by the extractor's
configuration, the training data version, the seed and that recipe, and lives beside the
calling method's checkpoint, so SELDnet and CST-Former with the same NGCC share one
pre-training. Its validation curve is the PIT loss and the per-track accuracy after the
optimal assignment on the held-out training files.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from itertools import permutations

import numpy as np
import torch

from perloc.bench.core import device
from perloc.bench.core.errors import UserError
from perloc.bench.core.protocols import FitContext
from perloc.datasets.seld_labels import IGNORE, tdoa_targets
from perloc.datasets.starss23 import LABEL_HOP
from perloc.methods.seld.losses import pit_tdoa_loss
from perloc.methods.seld.ngcc_features import NgccSeld, NgccSeldParams
from perloc.methods.training import Optimization, stage_context, train

PRETRAIN_VERSION = 1

VAL_FRAMES = 512


@dataclass
class _Frames:
    audio: np.ndarray  # [S, 4, 2400] float32
    targets: np.ndarray  # [S, 3, 6] lag classes (IGNORE: none)


def _frames(training, split: str, rng: np.random.Generator) -> _Frames:
    audio, targets = [], []
    for stem in training.files(split):
        n_label = training.n_label_frames(stem)
        for recording, events in training.views(stem):
            t = tdoa_targets(training.labels(events, n_label), rng)
            keep = np.flatnonzero((t != IGNORE).any(axis=(1, 2)))
            chunks = recording[:, :n_label * LABEL_HOP].reshape(4, n_label, LABEL_HOP)
            audio.append(chunks[:, keep].transpose(1, 0, 2))
            targets.append(t[keep])
    if not audio or not sum(len(a) for a in audio):
        raise UserError(f"NGCC pre-training: no labelled event in the {split} files")
    return _Frames(np.concatenate(audio).astype(np.float32), np.concatenate(targets))


def _rows(model: NgccSeld, audio: torch.Tensor, targets: torch.Tensor):
    """(logits [S * 6, K, lags], targets [S * 6, 3]) of label frames."""
    logits = model.tdoa_logits(audio)[:, 0]  # [S, 6, K, lags]
    return logits.flatten(0, 1), targets.transpose(1, 2).flatten(0, 1)


def assigned_accuracy(logits: torch.Tensor, targets: torch.Tensor) -> float:
    """Per-track argmax accuracy (percent) against the targets under the best assignment of
    each row, over rows and tracks with a target (the reference's monitoring)."""
    guess = logits.argmax(dim=-1)  # [N, K]
    best = torch.zeros(len(guess), device=guess.device)
    n_targets = (targets != IGNORE).sum(dim=1)
    for perm in permutations(range(targets.shape[1]), guess.shape[1]):
        chosen = targets[:, list(perm)]
        hits = ((guess == chosen) & (chosen != IGNORE)).sum(dim=1).float()
        best = torch.maximum(best, hits)
    valid = n_targets.clamp(min=0, max=guess.shape[1])
    return float(best.sum() / valid.sum().clamp(min=1) * 100.0)


def pretrained_extractor(params: NgccSeldParams, training, ctx: FitContext
                         ) -> tuple[NgccSeld, dict[str, list[float]]]:
    """Train (or load) the extractor; returned frozen (no gradients, eval mode) with its
    curves (``ngcc_val_loss``, ``ngcc_val_accuracy``, ...)."""
    ctx = stage_context(ctx, "ngcc", "ngcc-seld", PRETRAIN_VERSION,
                        [dataclasses.asdict(params), training.version])
    if ctx.say:
        ctx.say(f"  multi-target NGCC-PHAT pre-training -> {ctx.checkpoint.name}")
    torch.manual_seed(ctx.seed)
    model = device.build(lambda: NgccSeld(params))
    rng = np.random.default_rng([ctx.seed, 83])
    frames = _frames(training, "train", rng)
    val = _frames(training, "val", rng)
    pick = rng.permutation(len(val.targets))[:VAL_FRAMES]
    val_audio = device.tensor(val.audio[pick])
    val_targets = device.tensor(val.targets[pick])
    scale = frames.audio.transpose(1, 0, 2).reshape(4, -1).std(axis=1)
    model.scale.copy_(device.tensor(np.maximum(scale, 1e-8), torch.float32))

    def make_batch(batch_rng):
        idx = batch_rng.integers(0, len(frames.targets), ctx.batch_size)
        return device.host_tensor(frames.audio[idx]), device.host_tensor(frames.targets[idx])

    def loss(net, audio, targets):
        return pit_tdoa_loss(*_rows(net, audio, targets))

    def validate(net):
        net.eval()
        with torch.inference_mode():
            logits, targets = _rows(net, val_audio, val_targets)
            return {"loss": float(pit_tdoa_loss(logits, targets)),
                    "accuracy": assigned_accuracy(logits, targets)}

    opt = Optimization(optimizer="adamw", weight_decay=0.05, schedule="piecewise",
                       pieces=((1.0, 1.0),), keep_last=True)
    history = train(model, ctx, make_batch, loss, validate, "loss", opt).history
    return model.eval().requires_grad_(False), {f"ngcc_{k}": v for k, v in history.items()}
