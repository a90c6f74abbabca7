"""TDOA estimation for one microphone pair (Paper V protocol)."""

from __future__ import annotations

from perloc.bench.core.registry import TASKS
from perloc.bench.core.task import DataRequest, Profile, Reported, TaskSpec
from perloc.bench.report.tables import SliceTables
from perloc.metrics.tdoa import TDOA_METRICS

SNRS = (0, 6, 12, 18, 24, 30)
T60S = (0.2, 0.4, 0.6, 0.8, 1.0)

SMOKE_SIZES = {
    "ngcc-phat": {"channels": 8, "corr_channels": 8, "head_channels": 8, "sinc_kernel": 127},
    "ngcc-phat-mse": {"channels": 8, "corr_channels": 8, "head_channels": 8, "sinc_kernel": 127},
    "pgcc-phat": {"channels": [4, 4, 4, 4, 4], "hidden": 16},
    "pgcc-phat-ce": {"channels": [4, 4, 4, 4, 4], "hidden": 16},
}
DEFAULT_SIZES = {
    "ngcc-phat": {"channels": 16, "corr_channels": 16, "head_channels": 32, "sinc_kernel": 255},
    "ngcc-phat-mse": {"channels": 16, "corr_channels": 16, "head_channels": 32,
                      "sinc_kernel": 255},
}

PROFILES = {
    "smoke": Profile(
        "smoke", "2 test utterances, SNR {0, 30} x T60 {0.2, 0.4}, 15 windows each: seconds",
        grid={"snr": (0, 30), "t60": (0.2, 0.4)},
        dataset={"corpus": "smoke", "utterances": 2}, bootstrap=200, torch_threads=1,
        train={"epochs": 2, "steps_per_epoch": 3, "batch_size": 8, "lr": 1e-3,
               "data": {"rir_pool": 4, "rirs_per_utterance": 1, "val_windows": 2}},
        method_params=SMOKE_SIZES,
    ),
    "default": Profile(
        "default", "24 test utterances of the TTS corpus, full SNR x T60 grid; reduced-width "
        "learned models trained for minutes on 2 cores",
        grid={"snr": SNRS, "t60": T60S}, dataset={"corpus": "default", "utterances": 24},
        train={"epochs": 10, "steps_per_epoch": 100, "batch_size": 32, "lr": 1e-3,
               "data": {"rir_pool": 64, "rirs_per_utterance": 2, "val_windows": 4},
               "per_method": {"ngcc-phat-mse": {"epochs": 5}, "pgcc-phat": {"epochs": 5},
                              "pgcc-phat-ce": {"epochs": 5}}},
        method_params=DEFAULT_SIZES,
    ),
    "paper": Profile(
        "paper", "all test-clean test utterances (216 after trimming), full grid, real LibriSpeech",
        grid={"snr": SNRS, "t60": T60S}, dataset={"corpus": None, "utterances": None},
        needs_real_data=True,
        train={"epochs": 30, "steps_per_epoch": 60, "batch_size": 32, "lr": 1e-3,
               "data": {"rir_pool": 2000, "rirs_per_utterance": 8, "val_windows": 15}},
    ),
}

_T1 = "Paper V Table 1 (T60 0.2 s, mean over SNR 0-30 dB)"
_T2 = "Paper V Table 2 (correlation channels L; T60 0.2 s, mean over SNR)"
_LOG = "authors' released eval.txt (mean over SNR 0-30 dB)"
REPORTED = (
    Reported(_T1, "gcc-phat", "T60 0.2", {"rmse_cm": 15.21, "mae_cm": 6.84, "acc_10cm": 80.2}),
    Reported(_T1, "pgcc-phat (MSE)", "T60 0.2", {"rmse_cm": 10.87, "mae_cm": 6.59, "acc_10cm": 80.6}),
    Reported(_T1, "pgcc-phat (CE)", "T60 0.2", {"rmse_cm": 13.61, "mae_cm": 5.39, "acc_10cm": 85.7}),
    Reported(_T1, "ngcc-phat (MSE)", "T60 0.2", {"rmse_cm": 12.44, "mae_cm": 8.38, "acc_10cm": 71.9}),
    Reported(_T1, "ngcc-phat (CE)", "T60 0.2", {"rmse_cm": 13.24, "mae_cm": 5.13, "acc_10cm": 86.5}),
    Reported(_T2, "ngcc-phat L=1", "T60 0.2", {"mae_cm": 5.59, "acc_10cm": 84.4}),
    Reported(_T2, "ngcc-phat L=8", "T60 0.2", {"mae_cm": 5.35, "acc_10cm": 85.6}),
    Reported(_T2, "ngcc-phat L=32", "T60 0.2", {"mae_cm": 5.23, "acc_10cm": 85.8}),
    Reported(_T2, "ngcc-phat L=128", "T60 0.2", {"mae_cm": 5.13, "acc_10cm": 86.5}),
    Reported(_T2, "ngcc-phat L=128 w/o SincNet", "T60 0.2", {"mae_cm": 5.38, "acc_10cm": 85.4}),
    Reported(_LOG, "gcc-phat", "T60 0.2", {"rmse_cm": 15.22, "mae_cm": 6.84, "acc_10cm": 80.2}),
    Reported(_LOG, "gcc-phat", "T60 0.4", {"rmse_cm": 24.37, "mae_cm": 14.99, "acc_10cm": 57.2}),
    Reported(_LOG, "gcc-phat", "T60 0.6", {"rmse_cm": 27.41, "mae_cm": 18.47, "acc_10cm": 47.2}),
    Reported(_LOG, "ngcc-phat", "T60 0.2", {"rmse_cm": 11.80, "mae_cm": 4.65, "acc_10cm": 86.9}),
    Reported(_LOG, "ngcc-phat", "T60 0.4", {"rmse_cm": 21.17, "mae_cm": 11.84, "acc_10cm": 65.9}),
    Reported(_LOG, "ngcc-phat", "T60 0.6", {"rmse_cm": 25.08, "mae_cm": 15.62, "acc_10cm": 55.2}),
)


def speech_corpus(request: DataRequest):
    """The LibriSpeech corpus: real under --data-root/PERLOC_DATA, else the TTS stand-in."""
    from perloc.datasets.digest import ContentDigests
    from perloc.datasets.librispeech import LibriSpeech
    from perloc.datasets.synth.librispeech_tts import write_corpus

    root = request.real_root("real LibriSpeech test-clean")
    if root is None:
        size = request.profile.dataset["corpus"]
        root = write_corpus(request.cache_dir / "data" / f"librispeech-tts-{size}", size,
                            progress=request.progress)
    digests = ContentDigests(request.cache_dir / "caches" / "digests-v1.sqlite")
    return LibriSpeech(root, digests=digests)


def _bank(request: DataRequest):
    from perloc.datasets.sim.rir_bank import RirBank

    return RirBank(request.cache_dir / "caches" / "rir-bank-v1.h5")


def make_dataset(request: DataRequest):
    """The test protocol: the corpus's test speakers played in the Paper V test room."""
    from perloc.datasets.tdoa_rooms import TdoaRooms

    return TdoaRooms(speech_corpus(request), _bank(request), request.grid, seed=request.seed,
                     n_utterances=request.profile.dataset["utterances"], progress=request.progress)


def make_training(request: DataRequest):
    """Training pool and validation set in the Paper V training room."""
    from perloc.datasets.tdoa_train import TdoaTraining, TrainConfig

    config = TrainConfig(**request.profile.train.get("data", {}))
    return TdoaTraining(speech_corpus(request), _bank(request), config, seed=request.seed,
                        progress=request.progress)


TDOA = TASKS.add("tdoa", TaskSpec(
    name="tdoa",
    description="Time-delay estimation for one mic pair (Paper V): LibriSpeech in simulated rooms",
    dataset="tdoa-rooms",
    metrics=TDOA_METRICS,
    primary="mae_cm",
    default_methods=("gcc-phat", "gcc-scot", "gcc-roth", "gcc-cc", "ngcc-phat", "ngcc-phat-mse",
                     "pgcc-phat", "pgcc-phat-ce"),
    profiles=PROFILES,
    tolerances={"mae_cm": 0.25, "rmse_cm": 0.5, "acc_10cm": 1.0, "acc_8cm": 1.0,
                "acc_6cm": 1.0, "acc_4cm": 1.0, "acc_2cm": 1.0},
    make_dataset=make_dataset,
    make_training=make_training,
    target="tau",
    slice_by=("snr", "t60"),
    reported=REPORTED,
    headline=("mae_cm", "acc_10cm"),
    headline_slice="t60=0.2",  # Paper V Table 1: T60 0.2 s, averaged over the six SNRs
    reports=(SliceTables(("snr", "t60")),),
    resampling_unit="file",
    resampling_note="utterances: the 15 windows of one utterance share its speech and room "
                    "and are not independent; an utterance is resampled with all its windows in "
                    "every SNR x T60 cell",
    example_unit="window",
    inputs=("signals",),
    shortcuts=("snr", "t60"),
))
