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

Optimiser as in the paper and [R-w2p]: AdamW with weight decay 0.1 on the weight matrices only
(no decay on biases, norms, mask tokens and modality embeddings: every parameter of at most
one dimension, timm's rule), a linear warm-up over the first sixth of the steps ([R-w2p]: 5 of
30 epochs) and cosine decay after it; the profile sets the peak lr (the paper: 5e-4) and the
batch size (256). Two methods: ``wav2pos`` (random masking, wav2pos_M of Tables 2-4) and
``wav2pos-fixed`` (Table 1's fixed mask: only the source is masked, so it is scored on setup
1_a with every microphone of the array and is N/A elsewhere).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, fields
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from perloc.bench.core import device
from perloc.bench.core.batch import Batch
from perloc.bench.core.cards import MethodCard
from perloc.bench.core.protocols import FitContext
from perloc.bench.core.registry import METHODS
from perloc.datasets.ssl_schema import setup_1a_rows
from perloc.methods.ssl.learned import LearnedLocalizer, Localizer
from perloc.methods.ssl.ngcc_pairs import ngcc_config, pretrained_ngcc
from perloc.methods.ssl.pair_cache import CACHE_VERSION, PairCache
from perloc.methods.ssl.wav2pos_model import Wav2pos, Wav2posParams, random_mask
from perloc.methods.training import Optimization, weights_digest

MASKINGS = ("random", "fixed")
WARMUP_FRACTION = 5 / 30  # [R-w2p]: 5 warm-up epochs of 30


@dataclass(frozen=True)
class Wav2posMethodParams(Wav2posParams):
    """The network (paper sizes) plus the frozen NGCC's size and the training mask."""

    ngcc_channels: int = 128
    ngcc_sinc_kernel: int = 1023
    masking: str = "random"
    lam_audio: float = 0.1
    cache_ngcc: bool = True

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.masking not in MASKINGS:
            raise ValueError(f"masking must be one of {MASKINGS}, got {self.masking!r}")

    def network(self) -> Wav2posParams:
        return Wav2posParams(**{f.name: getattr(self, f.name) for f in fields(Wav2posParams)})


class Wav2posMethod(LearnedLocalizer):
    _cache_folder: Path | None = None

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
            self.model.net.set_ngcc(device.build(lambda: NGCCPHAT(self.ngcc_params)))
            self._attach_cache()

    def _attach_cache(self, folder: Path | None = None) -> None:
        """Serve the frozen NGCC's pair rows from a cache keyed by its weights (persisted
        under ``folder`` when given: the checkpoints folder)."""
        net = self.model.net
        if net.ngcc is None or not self.params.cache_ngcc:
            return
        path = None
        if folder is not None:
            path = Path(folder) / f"ngcc-rows-{weights_digest(net.ngcc)}-v{CACHE_VERSION}.h5"
        net.pair_cache = PairCache(self.params.n_lags, path)

    def load_state_dict(self, state: dict) -> None:
        super().load_state_dict(state)
        self._attach_cache(self._cache_folder)

    @staticmethod
    def build(params: Wav2posMethodParams) -> Wav2pos:
        return Wav2pos(params.network())

    def accepts(self, batch: Batch) -> np.ndarray:
        return np.ones(len(batch), dtype=bool)

    def optimization(self, ctx: FitContext) -> Optimization:
        warmup = max(1, round(WARMUP_FRACTION * ctx.epochs * ctx.steps_per_epoch))
        return Optimization(optimizer="adamw", weight_decay=0.1, no_decay_1d=True,
                            schedule="warmup-cosine", warmup_steps=warmup)

    def inputs(self, batch: Batch, rng: np.random.Generator | None) -> dict:
        signals = device.host_tensor(batch["signals"])
        b, m = signals.shape[:2]
        mic_pos = device.host_tensor(batch["mic_pos"])
        if rng is None:  # the test setup fixes the masks
            coord_known = torch.isfinite(mic_pos).all(-1)
            audio_known = torch.ones(b, m, dtype=torch.bool, device=signals.device)
            source_known = device.host_tensor(np.asarray(batch["source_known"], dtype=bool))
        elif self.params.masking == "random":
            gen = torch.Generator().manual_seed(int(rng.integers(2**62)))
            coord_known, audio_known, source_known = random_mask(b, m, gen)
        else:
            coord_known = audio_known = torch.ones(b, m, dtype=torch.bool, device=signals.device)
            source_known = torch.zeros(b, dtype=torch.bool, device=signals.device)
        out = {"signals": signals, "mic_pos": torch.nan_to_num(mic_pos),
               "coord_known": coord_known, "audio_known": audio_known,
               "source_signal": device.host_tensor(batch["source_signal"]),
               "source_known": source_known}
        if rng is not None:
            out["clean"] = torch.cat([out["source_signal"][:, None],
                                      device.host_tensor(batch["clean"])], 1)
            out["mic_true"] = device.host_tensor(batch["mic_pos"])
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
            self._cache_folder = Path(ctx.checkpoint).parent
            self._attach_cache(self._cache_folder)
        try:
            return {**history, **super().fit(training, ctx)}
        finally:
            self._save_cache(ctx)

    def _save_cache(self, ctx: FitContext) -> None:
        cache = self.model.net.pair_cache
        if cache is not None and ctx.say:
            ctx.say(f"  NGCC pair rows: {cache.hits} served from the cache, {cache.misses} "
                    f"computed; {cache.save()} saved")
        elif cache is not None:
            cache.save()


@dataclass(frozen=True)
class Wav2posFixedParams(Wav2posMethodParams):
    """wav2pos with Table 1's fixed mask (only the source masked in training); ``mics``: the
    array size it is trained and scored on (LuViRA: 11)."""

    masking: str = "fixed"
    mics: int = 11


class Wav2posFixed(Wav2posMethod):
    card = dataclasses.replace(
        Wav2posMethod.card, name="wav2pos-fixed", params=Wav2posFixedParams,
        reference="Berg et al., IPIN 2024 (Paper VII), Table 1 (fixed-mask model)",
        summary="wav2pos trained with the fixed mask of Table 1 (source masked, all mics "
                "known); scored on setup 1_a with the whole array only",
        capabilities=frozenset({"perm_invariant"}))

    def __init__(self, params: Wav2posFixedParams = Wav2posFixedParams()) -> None:
        super().__init__(params)

    def accepts(self, batch: Batch) -> np.ndarray:
        """Setup 1_a with the whole array: the only inputs its fixed mask was trained on."""
        return setup_1a_rows(batch) & (np.asarray(batch.meta["mics"]).astype(int)
                                       == self.params.mics)


for _method in (Wav2posMethod, Wav2posFixed):
    METHODS.add(_method.card.name, _method)
