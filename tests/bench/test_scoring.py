import numpy as np

from perloc.bench.scoring import score_run, slice_masks
from perloc.metrics.tdoa import TDOA_METRICS


def test_slice_masks_cover_each_value_and_each_cell():
    meta = {"snr": np.array([0.0, 0.0, 30.0, 30.0]), "t60": np.array([0.2, 0.4, 0.2, 0.4])}
    masks = slice_masks(meta, ("snr", "t60"))
    assert set(masks) == {"snr=0", "snr=30", "t60=0.2", "t60=0.4", "snr=0|t60=0.2",
                          "snr=0|t60=0.4", "snr=30|t60=0.2", "snr=30|t60=0.4"}
    np.testing.assert_array_equal(masks["snr=30|t60=0.2"], [False, False, True, False])


def test_score_run_overall_pools_and_slices_split():
    meta = {"snr": np.array([0.0, 0.0, 30.0, 30.0]), "t60": np.full(4, 0.2)}
    pred, true = np.array([0, 10, 0, 0]), np.zeros(4)
    overall, slices = score_run(TDOA_METRICS, pred, true, meta, ("snr", "t60"), 100, seed=0)
    assert overall["acc_10cm"].value == 75.0
    assert overall["mae_cm"].n == 4
    assert slices["snr=0"]["acc_10cm"].value == 50.0
    assert slices["snr=30|t60=0.2"]["mae_cm"].value == 0.0
    again = score_run(TDOA_METRICS, pred, true, meta, ("snr", "t60"), 100, seed=0)
    assert again == (overall, slices)


def test_cell_mask_matches_the_named_slice():
    from perloc.bench.scoring import cell_mask

    meta = {"setup": np.array(["1_a", "2_a", "1_a"]), "mics": np.array([11, 11, 5]),
            "trajectory": np.array(["a", "b", "a"])}
    masks = slice_masks(meta, ("setup", "mics", "trajectory"))
    for name in ("setup=1_a|mics=11", "mics=11|trajectory=b", "setup=1_a"):
        np.testing.assert_array_equal(cell_mask(meta, name), masks[name])
    assert not cell_mask(meta, "snr=0").any()
