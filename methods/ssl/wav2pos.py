"""wav2pos (Paper VII) as a harness method: NGCC pre-training, masked training, any setup.

Training has two stages, as in the paper: (1) an NGCC-PHAT is trained on random microphone
pairs of the training windows and frozen (:mod:`perloc.methods.ssl.ngcc_pairs`; shared with
multilat-ngcc when the sizes match); (2) wav2pos is trained with random masking (wav2pos_M,
``masking="random"``: keep 8-11 coordinates and 8-11 audio snippets, >= 5 shared, source
audio present with probability 0.5) or with the fixed mask of Table 1 (``"fixed"``: only the
source is masked) and the loss of eq. 3 (lambda_audio 0.1 on the z-scored clean audio,
lambda_source = lambda_mic = 1 on normalised coordinates).

At test time the setup decides the masks: 1_a all M microphones known and the source audio
hidden; 1_b the source audio (12th microphone) given; 2_a / 2_b audio of all microphones with
only the known coordinates (the others are NaN in ``mic_pos``).

Difference from the paper's recipe: the harness loop uses AdamW without weight decay (the paper:
0.1, not on norms, biases and tokens) and a cosine schedule without warm-up.
"""

from __future__ import annotations

from dataclasses import dataclass, fields

import numpy as np
import torch
from torch import Tensor

from perloc.bench.core.batch import Batch
from perloc.bench.core.cards import MethodCard
from perloc.bench.core.protocols import FitContext
from perloc.bench.core.registry import METHODS
from perloc.methods.ssl.learned import LearnedLocalizer, Localizer
from perloc.methods.ssl.ngcc_pairs import ngcc_config, pretrained_ngcc
from perloc.methods.ssl.wav2pos_model import Wav2pos, Wav2posParams, random_mask

MASKINGS = ("random", "fixed")


@dataclass(frozen=True)
class Wav2posMethodParams(Wav2posParams):
    """The network (paper sizes) plus the frozen NGCC's size and the training mask."""

    ngcc_channels: int = 128
    ngcc_sinc_kernel: int = 1023
    masking: str = "random"
    lam_audio: float = 0.1

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.masking not in MASKINGS:
            raise ValueError(f"masking must be one of {MASKINGS}, got {self.masking!r}")

    def network(self) -> Wav2posParams:
        return Wav2posParams(**{f.name: getattr(self, f.name) for f in fields(Wav2posParams)})


class Wav2posMethod(LearnedLocalizer):
    card = MethodCard(
        name="wav2pos", task="ssl", kind="learned", params=Wav2posMethodParams,
        reference="Berg et al., IPIN 2024 (Paper VII), Tables 1-4",
        summary="masked auto-encoder over audio + coordinate tokens, pairwise encoding, "
                "frozen NGCC-PHAT TDOA features",
        capabilities=frozenset({"perm_invariant", "variable_mics"}),
    )

    def __init__(self, params: Wav2posMethodParams = Wav2posMethodParams()) -> None:
        super().__init__(params)
        if params.use_tdoa and params.tdoa_source == "ngcc":
            from perloc.methods.tdoa.ngcc import NGCCPHAT

            self.ngcc_params = ngcc_config(params.ngcc_channels, params.ngcc_sinc_kernel,
                                           params.max_tau, params.sig_len)
            self.model.net.set_ngcc(NGCCPHAT(self.ngcc_params))

    @staticmethod
    def build(params: Wav2posMethodParams) -> Wav2pos:
        return Wav2pos(params.network())

    def accepts(self, batch: Batch) -> np.ndarray:
        return np.ones(len(batch), dtype=bool)

    def inputs(self, batch: Batch, rng: np.random.Generator | None) -> dict:
        signals = torch.as_tensor(batch["signals"])
        b, m = signals.shape[:2]
        mic_pos = torch.as_tensor(batch["mic_pos"])
        if rng is None:  # the test setup fixes the masks
            coord_known = torch.isfinite(mic_pos).all(-1)
            audio_known = torch.ones(b, m, dtype=torch.bool)
            source_known = torch.as_tensor(np.asarray(batch["source_known"], dtype=bool))
        elif self.params.masking == "random":
            gen = torch.Generator().manual_seed(int(rng.integers(2**62)))
            coord_known, audio_known, source_known = random_mask(b, m, gen)
        else:
            coord_known = audio_known = torch.ones(b, m, dtype=torch.bool)
            source_known = torch.zeros(b, dtype=torch.bool)
        out = {"signals": signals, "mic_pos": torch.nan_to_num(mic_pos),
               "coord_known": coord_known, "audio_known": audio_known,
               "source_signal": torch.as_tensor(batch["source_signal"]),
               "source_known": source_known}
        if rng is not None:
            out["clean"] = torch.cat([out["source_signal"][:, None],
                                      torch.as_tensor(batch["clean"])], 1)
            out["mic_true"] = torch.as_tensor(batch["mic_pos"])
        return out

    @staticmethod
    def _network_inputs(model: Localizer, inputs: dict) -> dict:
        keys = ("signals", "coord_known", "audio_known", "source_signal", "source_known")
        return {"mic_pos": model.normalise(inputs["mic_pos"]), **{k: inputs[k] for k in keys}}

    def forward(self, model: Localizer, inputs: dict) -> Tensor:
        return model.net(**self._network_inputs(model, inputs)).source

    def outputs(self, model: Localizer, inputs: dict) -> dict[str, Tensor]:
        """The source and every microphone (the unknown ones are what setups 2_x score)."""
        out = model.net(**self._network_inputs(model, inputs))
        return {"position": out.source, "mic_pos": out.mics}

    def loss(self, model: Localizer, inputs: dict, target: Tensor) -> Tensor:
        out = model.net(**self._network_inputs(model, inputs))
        losses = model.net.loss(out, model.normalise(target), model.normalise(inputs["mic_true"]),
                                inputs["clean"], lam_audio=self.params.lam_audio)
        return losses.total

    def fit(self, training, ctx: FitContext) -> dict[str, list[float]]:
        history = {}
        if self.model.net.ngcc is not None:
            ngcc, history = pretrained_ngcc(self.ngcc_params, training, ctx)
            self.model.net.set_ngcc(ngcc)
        return {**history, **super().fit(training, ctx)}


METHODS.add(Wav2posMethod.card.name, Wav2posMethod)
