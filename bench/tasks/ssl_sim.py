"""Sound source localization in Paper VII's simulated environment (Figure 3): six ad-hoc mics."""

from __future__ import annotations

from perloc.bench.core.registry import TASKS
from perloc.bench.core.task import DataRequest, Profile, TaskSpec
from perloc.bench.report.error_cdf import ErrorCdf
from perloc.bench.report.tables import SliceTables
from perloc.bench.tasks.ssl import DEFAULT_SIZES, SMOKE_SIZES, paper_recipes
from perloc.bench.tasks.tdoa import speech_corpus
from perloc.metrics.localization import LOCALIZATION_METRICS, euclidean_error_cm

MAX_TAU = 342  # the 5 x 5 x 2 m room's diagonal at 16 kHz
LAGS = {"multilat": {"max_tau": MAX_TAU}, "multilat-ngcc": {"max_tau": MAX_TAU},
        "wav2pos": {"max_tau": MAX_TAU}, "gnn": {"n_lags": 2 * MAX_TAU + 1},
        "di-nn": {"mics": [6]}}


def _sizes(base: dict, **extra: dict) -> dict:
    names = {*base, *LAGS} - {"wav2pos-fixed"}  # six ad-hoc mics: no fixed 11-mic array here
    return {m: {**base.get(m, {}), **LAGS.get(m, {}), **extra.get(m, {})} for m in names}


PROFILES = {
    "smoke": Profile(
        "smoke", "2 test utterances x 4 geometries, SNR {0, 30} x T60 {0, 0.2}",
        grid={"snr": (0, 30), "t60": (0.0, 0.2)},
        dataset={"corpus": "smoke", "utterances": 2, "repeats": 4}, bootstrap=200,
        torch_threads=1, batch_size=64,
        train={"epochs": 2, "steps_per_epoch": 3, "batch_size": 8, "lr": 1e-3,
               "data": {"rirs_per_utterance": 1, "max_utterances": 6, "val_examples": 4,
                        "t60": (0.0, 0.2)}},
        method_params=_sizes(SMOKE_SIZES),
    ),
    "default": Profile(
        "default", "TTS test utterances x 5 geometries, SNR {0, 10, 20, 30} x T60 {0, 0.2, 0.4}; "
        "CPU-sized learned models with their publications' optimisers ([R-w2p]'s simulated "
        "recipe for wav2pos: AdamW wd 0.1, warm-up, lr 1e-3, batch 64; DI-NN Adam 1e-4, batch "
        "32; GNN Adam 1e-3, batch 128), wav2pos with GCC-PHAT TDOA features (every example is a "
        "fresh geometry, so frozen-NGCC rows cannot be reused: 1.7 s a step), trained for a "
        "few hundred to 2000 steps: far too few for them to learn much here",
        grid={"snr": (0, 10, 20, 30), "t60": (0.0, 0.2, 0.4)},
        dataset={"corpus": "default", "utterances": None, "repeats": 5}, batch_size=64,
        train={"epochs": 10, "steps_per_epoch": 30, "batch_size": 32, "lr": 1e-3,
               "data": {"rirs_per_utterance": 2, "t60": (0.0, 0.3)},
               "per_method": paper_recipes(
                   64, 1e-3, gnn={"epochs": 20, "steps_per_epoch": 100},
                   wav2pos={"epochs": 20, "steps_per_epoch": 60},
                   multilat_ngcc={"epochs": 5, "steps_per_epoch": 40})},
        method_params=_sizes(DEFAULT_SIZES, wav2pos={"tdoa_source": "gcc"}),
    ),
    "paper": Profile(
        "paper", "real LibriSpeech test-clean, 10 geometries per test utterance (2160 examples), "
        "paper model sizes",
        grid={"snr": (0, 10, 20, 30), "t60": (0.0, 0.2, 0.4, 0.6)},
        dataset={"corpus": None, "utterances": None, "repeats": 10}, needs_real_data=True,
        batch_size=64,
        train={"epochs": 30, "steps_per_epoch": 325, "batch_size": 64, "lr": 1e-3,
               "data": {"rirs_per_utterance": 10, "t60": (0.0, 0.4)},
               "per_method": paper_recipes(64, 1e-3)},
        method_params=_sizes({}),
    ),
}


def _bank(request: DataRequest):
    from perloc.datasets.sim.rir_bank import RirBank

    return RirBank(request.cache_dir / "caches" / "rir-bank-adhoc-v1.h5")


def make_dataset(request: DataRequest):
    from perloc.datasets.ssl_adhoc import AdhocTest

    data = request.profile.dataset
    return AdhocTest(speech_corpus(request), _bank(request), request.grid, seed=request.seed,
                     n_utterances=data["utterances"], repeats=data["repeats"],
                     progress=request.progress)


def make_training(request: DataRequest):
    from perloc.datasets.ssl_adhoc import AdhocTrainConfig, AdhocTraining

    config = AdhocTrainConfig(**request.profile.train.get("data", {}))
    return AdhocTraining(speech_corpus(request), _bank(request), config, seed=request.seed,
                         progress=request.progress)


SSL_SIM = TASKS.add("ssl-sim", TaskSpec(
    name="ssl-sim",
    description="Sound source localization in Paper VII's simulated environment: LibriSpeech in "
                "a 5 x 5 x 2 m room, one mic per face (six), SNR x T60",
    dataset="librispeech-adhoc",
    metrics=LOCALIZATION_METRICS,
    primary="mae_cm",
    default_methods=("multilat", "multilat-ngcc", "di-nn", "gnn", "wav2pos"),
    profiles=PROFILES,
    tolerances={"mae_cm": 1.0, "acc_30cm": 2.0},
    make_dataset=make_dataset,
    make_training=make_training,
    target="position",
    slice_by=("snr", "t60"),
    headline=("mae_cm", "acc_30cm"),
    family="ssl",
    reports=(SliceTables(("snr", "t60")), ErrorCdf(euclidean_error_cm, "position")),
    resampling_unit="file",
    resampling_note="test utterances: each is played from several geometries in every SNR x "
                    "T60 cell, and those examples share its speech",
    example_unit="example",
    inputs=("signals", "mic_pos", "source_signal", "source_known"),
    shortcuts=("snr", "t60"),
))
