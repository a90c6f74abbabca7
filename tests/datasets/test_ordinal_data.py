"""The ordinal task's data view: BIWI's mirrored copies, and one leaderboard section for
every seed of a run (HCI draws its test split per seed)."""

from __future__ import annotations

import numpy as np

from perloc.datasets.biwi import Biwi
from perloc.datasets.hci import Hci
from perloc.datasets.ordinal_data import OrdinalTest, OrdinalTraining
from tests.datasets.test_biwi import TRAIN_POSE, biwi  # noqa: F401  (fixture)
from tests.datasets.test_hci import hci  # noqa: F401  (fixture)


def test_biwi_training_is_doubled_by_mirrors_with_yaw_and_roll_negated(biwi):  # noqa: F811
    training = OrdinalTraining(Biwi(biwi), seed=0, side=16)
    images, targets = training.arrays
    assert len(targets) == 2 * len(TRAIN_POSE)
    np.testing.assert_allclose(targets[:3], TRAIN_POSE)
    np.testing.assert_allclose(targets[3:], TRAIN_POSE * [-1, 1, -1])
    np.testing.assert_array_equal(images[3:], images[:3, :, :, ::-1])


def test_seeds_of_an_hci_run_share_a_base_version_but_not_a_version(hci):  # noqa: F811
    tests = [OrdinalTest(OrdinalTraining(Hci(hci), seed=s, side=16)) for s in (0, 1)]
    assert tests[0].version != tests[1].version  # different random 80/20 splits
    assert tests[0].describe()["base_version"] == tests[1].describe()["base_version"]
    other = OrdinalTest(OrdinalTraining(Hci(hci, split="first"), seed=0, side=16))
    assert other.base_version != tests[0].base_version
