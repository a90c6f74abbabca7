"""TDOA estimation for one microphone pair (Paper V protocol)."""

from __future__ import annotations

import os
from pathlib import Path

from perloc.bench.core.errors import UserError
from perloc.bench.core.registry import TASKS
from perloc.bench.core.task import DataRequest, Profile, Reported, TaskSpec
from perloc.metrics.tdoa import TDOA_METRICS

SNRS = (0, 6, 12, 18, 24, 30)
T60S = (0.2, 0.4, 0.6, 0.8, 1.0)

PROFILES = {
    "smoke": Profile(
        "smoke", "2 test utterances, SNR {0, 30} x T60 {0.2, 0.4}, 15 windows each: seconds",
        grid={"snr": (0, 30), "t60": (0.2, 0.4)},
        dataset={"corpus": "smoke", "utterances": 2}, bootstrap=200, torch_threads=1,
    ),
    "default": Profile(
        "default", "24 test utterances of the TTS corpus, full SNR x T60 grid: minutes on 2 cores",
        grid={"snr": SNRS, "t60": T60S}, dataset={"corpus": "default", "utterances": 24},
    ),
    "paper": Profile(
        "paper", "all test-clean test utterances (216 after trimming), full grid, real LibriSpeech",
        grid={"snr": SNRS, "t60": T60S}, dataset={"corpus": None, "utterances": None},
        needs_real_data=True,
    ),
}

_T1 = "Paper V Table 1 (T60 0.2 s, mean over SNR 0-30 dB)"
_LOG = "authors' released eval.txt (mean over SNR 0-30 dB)"
REPORTED = (
    Reported(_T1, "gcc-phat", "T60 0.2", {"rmse_cm": 15.21, "mae_cm": 6.84, "acc_10cm": 80.2}),
    Reported(_T1, "pgcc-phat (MSE)", "T60 0.2", {"rmse_cm": 10.87, "mae_cm": 6.59, "acc_10cm": 80.6}),
    Reported(_T1, "pgcc-phat (CE)", "T60 0.2", {"rmse_cm": 13.61, "mae_cm": 5.39, "acc_10cm": 85.7}),
    Reported(_T1, "ngcc-phat (MSE)", "T60 0.2", {"rmse_cm": 12.44, "mae_cm": 8.38, "acc_10cm": 71.9}),
    Reported(_T1, "ngcc-phat (CE)", "T60 0.2", {"rmse_cm": 13.24, "mae_cm": 5.13, "acc_10cm": 86.5}),
    Reported(_LOG, "gcc-phat", "T60 0.2", {"rmse_cm": 15.22, "mae_cm": 6.84, "acc_10cm": 80.2}),
    Reported(_LOG, "gcc-phat", "T60 0.4", {"rmse_cm": 24.37, "mae_cm": 14.99, "acc_10cm": 57.2}),
    Reported(_LOG, "gcc-phat", "T60 0.6", {"rmse_cm": 27.41, "mae_cm": 18.47, "acc_10cm": 47.2}),
    Reported(_LOG, "ngcc-phat", "T60 0.2", {"rmse_cm": 11.80, "mae_cm": 4.65, "acc_10cm": 86.9}),
    Reported(_LOG, "ngcc-phat", "T60 0.4", {"rmse_cm": 21.17, "mae_cm": 11.84, "acc_10cm": 65.9}),
    Reported(_LOG, "ngcc-phat", "T60 0.6", {"rmse_cm": 25.08, "mae_cm": 15.62, "acc_10cm": 55.2}),
)


def _speech_root(request: DataRequest) -> Path | None:
    root = request.data_root or (Path(os.environ["PERLOC_DATA"]) if os.environ.get("PERLOC_DATA")
                                 else None)
    if root is None and request.profile.needs_real_data:
        raise UserError(f"--data-root: the {request.profile.name} profile needs real LibriSpeech "
                        "test-clean; pass --data-root PATH or set PERLOC_DATA")
    return root


def make_dataset(request: DataRequest):
    """LibriSpeech (real, or the TTS stand-in written in its layout) played in the test room."""
    from perloc.datasets.librispeech import LibriSpeech
    from perloc.datasets.sim.rir_bank import RirBank
    from perloc.datasets.synth.librispeech_tts import write_corpus
    from perloc.datasets.tdoa_rooms import TdoaRooms

    root = _speech_root(request)
    if root is None:
        size = request.profile.dataset["corpus"]
        root = write_corpus(request.cache_dir / "data" / f"librispeech-tts-{size}", size,
                            progress=request.progress)
    return TdoaRooms(
        LibriSpeech(root), RirBank(request.cache_dir / "caches" / "rir-bank-v1.h5"),
        request.grid, seed=request.seed, n_utterances=request.profile.dataset["utterances"],
        progress=request.progress,
    )


TDOA = TASKS.add("tdoa", TaskSpec(
    name="tdoa",
    description="Time-delay estimation for one mic pair (Paper V): LibriSpeech in simulated rooms",
    dataset="tdoa-rooms",
    metrics=TDOA_METRICS,
    primary="mae_cm",
    default_methods=("gcc-phat", "gcc-scot", "gcc-roth", "gcc-cc"),
    profiles=PROFILES,
    tolerances={"mae_cm": 0.25, "rmse_cm": 0.5, "acc_10cm": 1.0, "acc_8cm": 1.0,
                "acc_6cm": 1.0, "acc_4cm": 1.0, "acc_2cm": 1.0},
    make_dataset=make_dataset,
    target="tau",
    slice_by=("snr", "t60"),
    reported=REPORTED,
    headline=("mae_cm", "acc_10cm"),
))
