"""A SELD network memorises its training files through the whole pipeline (features, ADPIT
labels, sequences, loss, decoding, the DCASE metric): a broken label alignment, target layout
or decoder would leave F at zero and the direction error near random (about 90 degrees)."""

from __future__ import annotations

import pytest
import torch

from perloc.bench.core.protocols import FitContext
from perloc.bench.core.registry import METHODS
from perloc.datasets.seld_data import SeldTraining
from perloc.datasets.starss23 import Starss23


@pytest.mark.slow
def test_seldnet_memorises_its_training_files(starss23_smoke, tmp_path):
    torch.set_num_threads(1)
    training = SeldTraining(Starss23(starss23_smoke))
    cls = METHODS.get("seldnet-gcc-ms")
    method = cls(cls.card.params(filters=16, rnn=32))
    ctx = FitContext(checkpoint=tmp_path / "seldnet.pt", seed=0, epochs=10, steps_per_epoch=20,
                     batch_size=8, lr=3e-3, options={})
    history = method.fit(training, ctx)
    assert history["train_loss"][-1] < 0.5 * history["train_loss"][0]
    scores = method._validate(method.model, training, training.files("train"))
    assert scores["F"] > 5.0 and scores["DOAE"] < 20.0, scores  # macro over 13 classes
