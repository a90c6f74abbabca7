"""Keyword-spotting batches from the Speech Commands adapter, through the feature cache."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from perloc.datasets.feature_cache import FeatureCache
from perloc.datasets.features.mfcc import Mfcc
from perloc.datasets.kws_data import (
    KwsClips,
    KwsTest,
    KwsTraining,
    TrainingOptions,
    mfcc_features,
    to_float,
)
from perloc.datasets.speech_commands import SILENCE, SpeechCommands


@pytest.fixture()
def clips(commands_smoke, tmp_path):
    return KwsClips(SpeechCommands(commands_smoke), FeatureCache(tmp_path / "features.h5"))


def test_features_are_cached_across_instances(clips, tmp_path):
    first = clips.features("testing")
    computed = clips.cache.computed
    assert computed >= 2  # audio and features
    again = KwsClips(clips.commands, FeatureCache(tmp_path / "features.h5"))
    np.testing.assert_array_equal(again.features("testing"), first)
    assert again.cache.computed == 0
    assert first.shape[1:] == (98, 40) and first.dtype == np.float32


def test_cached_features_equal_the_front_end_on_the_clips(clips):
    audio = clips.audio("validation")
    assert audio.dtype == np.int16
    floats = np.stack([clips.commands.load(e) for e in clips.commands.entries("validation")[:5]])
    np.testing.assert_array_equal(to_float(audio[:5]), floats)  # int16 cache is exact
    with torch.inference_mode():
        direct = Mfcc()(torch.as_tensor(floats)).numpy()
    np.testing.assert_allclose(mfcc_features(audio)[:5], direct, rtol=1e-5, atol=1e-4)


def test_test_batches_carry_labels_and_class_names(clips):
    data = KwsTest(clips)
    batches = list(data.batches("test", 7))
    labels = np.concatenate([b["label"] for b in batches])
    words = np.concatenate([b.meta["word"] for b in batches])
    assert len(labels) == data.splits()["test"] and batches[0]["mfcc"].shape[1:] == (98, 40)
    assert all(data.classes[i] == w for i, w in zip(labels, words, strict=True))
    assert data.describe()["classes"] == 12


def test_training_batches_are_augmented_deterministically_and_silence_stays_zero(clips):
    training = KwsTraining(clips)
    a, labels = training.batch(16, np.random.default_rng(3))
    b, _ = training.batch(16, np.random.default_rng(3))
    torch.testing.assert_close(a, b)
    assert a.shape == (16, 98, 40) and labels.dtype == torch.int64
    silence = training.classes.index(SILENCE)
    zero_clip = Mfcc()(torch.zeros(1, 16000))[0]
    for row in np.flatnonzero(labels.numpy() == silence):
        keep = a[row] != 0  # SpecAugment zeroes bands; the rest is the all-zero clip's MFCC
        torch.testing.assert_close(a[row][keep], zero_clip[keep])


def test_without_augmentation_training_reads_cached_features(clips):
    training = KwsTraining(clips, TrainingOptions(augment=False))
    x, labels = training.batch(8, np.random.default_rng(0))
    feats = clips.features("training")
    index = np.sort(np.random.default_rng(0).choice(len(feats), 8, replace=False))
    np.testing.assert_array_equal(x.numpy(), feats[index])
    assert training.version != KwsTraining(clips).version


def test_decoding_and_feature_caching_report_progress_in_logs(commands_smoke, tmp_path,
                                                              monkeypatch, capsys):
    from perloc.bench.core import progress

    monkeypatch.setattr(progress, "INTERVAL", 0.001)  # every step is "long" here
    KwsClips(SpeechCommands(commands_smoke), FeatureCache(tmp_path / "f.h5"),
             progress=True).features("testing")
    err = capsys.readouterr().err
    assert "decoding testing clips: done, " in err and "MFCC features: done, " in err
