import numpy as np

from perloc.bench.run.scoring import score_run, slice_masks
from perloc.metrics.tdoa import TDOA_METRICS


def test_slice_masks_cover_each_value_and_each_cell():
    meta = {"snr": np.array([0.0, 0.0, 30.0, 30.0]), "t60": np.array([0.2, 0.4, 0.2, 0.4])}
    masks = slice_masks(meta, ("snr", "t60"))
    assert set(masks) == {"snr=0", "snr=30", "t60=0.2", "t60=0.4", "snr=0|t60=0.2",
                          "snr=0|t60=0.4", "snr=30|t60=0.2", "snr=30|t60=0.4"}
    np.testing.assert_array_equal(masks["snr=30|t60=0.2"], [False, False, True, False])


def _rows(metrics, pred, true):
    return {card.name: card.rows(pred, true) for card in metrics}


def test_score_run_overall_pools_and_slices_split():
    meta = {"snr": np.array([0.0, 0.0, 30.0, 30.0]), "t60": np.full(4, 0.2)}
    pred, true = np.array([0, 10, 0, 0]), np.zeros(4)
    kwargs = {"slice_by": ("snr", "t60"), "unit": "example", "n_resamples": 100, "seed": 0}
    scored = score_run(TDOA_METRICS, _rows(TDOA_METRICS, pred, true), meta, **kwargs)
    assert scored.scores["acc_10cm"].value == 75.0
    assert scored.scores["mae_cm"].n == 4
    assert scored.slices["snr=0"]["acc_10cm"].value == 50.0
    assert scored.slices["snr=30|t60=0.2"]["mae_cm"].value == 0.0
    again = score_run(TDOA_METRICS, _rows(TDOA_METRICS, pred, true), meta, **kwargs)
    assert again == scored


def test_fully_failed_cells_are_na_and_left_out_of_pooled_scores():
    """mics=5 fails every frame (N/A, excluded); mics=11 fails one of two (scored by the cap)."""
    from perloc.metrics.localization import LOCALIZATION_METRICS

    meta = {"mics": np.array([5, 5, 11, 11]), "setup": np.array(["1_a"] * 4)}
    pred = np.array([[np.nan] * 3, [np.nan] * 3, [0.1, 0, 0], [np.nan] * 3])
    failed = ~np.isfinite(pred).all(axis=1)
    scored = score_run(LOCALIZATION_METRICS, _rows(LOCALIZATION_METRICS, pred, np.zeros((4, 3))),
                       meta, slice_by=("setup", "mics"), unit="example", n_resamples=50, seed=0,
                       failed=failed, grid=("setup", "mics"))
    assert scored.excluded_cells == ["setup=1_a|mics=5"]
    assert "mics=5" not in scored.slices and "setup=1_a|mics=5" not in scored.slices
    assert scored.failures["mics=5"] == 1.0 and scored.failures["mics=11"] == 0.5
    assert scored.scores["mae_cm"].value == (10 + 300) / 2  # only the mics=11 frames pooled
    assert scored.slices["setup=1_a"]["mae_cm"].n == 2


def test_clustered_scores_count_units_and_do_not_change_the_value():
    meta = {"file": np.repeat(["a", "b", "c"], 5), "snr": np.zeros(15)}
    pred, true = np.arange(15), np.zeros(15)
    kwargs = {"slice_by": ("snr",), "n_resamples": 200, "seed": 0}
    rows = _rows(TDOA_METRICS, pred, true)
    by_file = score_run(TDOA_METRICS, rows, meta, unit="file", **kwargs)
    by_window = score_run(TDOA_METRICS, rows, meta, unit="example", **kwargs)
    assert by_file.scores["mae_cm"].units == 3 and by_window.scores["mae_cm"].units == 15
    assert by_file.scores["mae_cm"].value == by_window.scores["mae_cm"].value
    width = lambda s: s.ci_high - s.ci_low  # noqa: E731
    assert width(by_file.scores["mae_cm"]) > width(by_window.scores["mae_cm"])


def test_cell_mask_matches_the_named_slice():
    from perloc.bench.run.scoring import cell_mask

    meta = {"setup": np.array(["1_a", "2_a", "1_a"]), "mics": np.array([11, 11, 5]),
            "trajectory": np.array(["a", "b", "a"])}
    masks = slice_masks(meta, ("setup", "mics", "trajectory"))
    for name in ("setup=1_a|mics=11", "mics=11|trajectory=b", "setup=1_a"):
        np.testing.assert_array_equal(cell_mask(meta, name), masks[name])
    assert not cell_mask(meta, "snr=0").any()
