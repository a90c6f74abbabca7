"""The DCASE2024 SELD metrics against answers worked out by hand from the official rules
(spec seld.md §2): every expected number below is derived in the comment beside it, not by the
code under test. One scored frame (frame 0) is followed by a reference-only frame 1, the last
annotated frame, which the official code never evaluates."""

from __future__ import annotations

import math

import numpy as np
import pytest

from perloc.datasets.dcase_csv import DcaseEvents, polar_to_unit
from perloc.metrics.seld import SeldConfig, file_stats, jackknife_scores, scores

C = 13
PERFECT_DOA = 8.1e-4  # degrees: the 1e-10 under the official square root (spec §2.5)


def events(*rows) -> DcaseEvents:
    """rows of (frame, class, azimuth deg, elevation deg, distance m)."""
    if not rows:
        return DcaseEvents.empty()
    frame, cls, az, el, dist = (np.asarray(col) for col in zip(*rows, strict=True))
    return DcaseEvents(frame.astype(np.int64), cls.astype(np.int64), np.zeros(len(rows), np.int64),
                       polar_to_unit(az, el), dist.astype(float))


END = (1, 0, 0, 0, 1.0)  # the last annotated frame: never scored


DCASE2024 = SeldConfig()


def score(ref, pred, average="macro", config=DCASE2024):
    return {k: float(v) for k, v in scores(file_stats(ref, pred, config), config, average).items()}


def test_exact_match():
    s = score(events((0, 0, 0, 0, 2.0), END), events((0, 0, 0, 0, 2.0)))
    assert s["F"] == pytest.approx(1 / 13)  # class 0 perfect, the 12 absent classes count 0
    assert s["DOAE"] == pytest.approx(0.0, abs=1e-3) and s["DOAE"] > 0  # about 8.1e-4
    assert s["RDE"] == 0.0 and s["DE"] == 0.0 and s["ER"] == 0.0
    assert s["LR"] == pytest.approx(1 / 13)
    assert s["SELD"] == pytest.approx(12 / 13, abs=1e-5)  # absent classes: nanmean(1 - 0) = 1
    assert score(events((0, 0, 0, 0, 2.0), END), events((0, 0, 0, 0, 2.0)), "micro")["F"] == \
        pytest.approx(1.0)


def test_a_10_degree_azimuth_miss_at_60_degrees_elevation_is_a_great_circle_5():
    # haversine: 2 asin(cos 60 sin 5) = 4.9951 degrees, not the 10 of the azimuths
    expected = math.degrees(2 * math.asin(math.cos(math.radians(60)) * math.sin(math.radians(5))))
    s = score(events((0, 0, 0, 60, 1.0), END), events((0, 0, 10, 60, 1.0)), "micro")
    assert s["DOAE"] == pytest.approx(expected, abs=1e-3)
    assert s["F"] == pytest.approx(1.0)  # under 20 degrees: a true positive
    s = score(events((0, 0, 0, 0, 1.0), END), events((0, 0, 10, 0, 1.0)), "micro")
    assert s["DOAE"] == pytest.approx(10.0, abs=1e-3) and s["F"] == pytest.approx(1.0)


def test_a_30_degree_miss_is_a_spatial_false_positive():
    s = score(events((0, 0, 0, 0, 1.0), END), events((0, 0, 30, 0, 1.0)), "micro")
    assert s["F"] == 0.0  # TP 0, FP_spatial 1
    assert s["DOAE"] == pytest.approx(30.0, abs=1e-3)  # DOAE ignores the threshold
    assert s["LR"] == pytest.approx(1.0)  # the pair was matched
    assert s["ER"] == pytest.approx(1.0)  # fp 1, fn 0: one insertion over one reference


@pytest.mark.parametrize("azimuth, passes", [(19.99, True), (20.0, False), (20.01, False)])
def test_angle_at_and_around_20_degrees(azimuth, passes):
    # exactly 20 degrees computes as 20.00000002 and fails (spec §2.5)
    s = score(events((0, 0, 0, 0, 1.0), END), events((0, 0, azimuth, 0, 1.0)), "micro")
    assert s["F"] == pytest.approx(1.0 if passes else 0.0)


@pytest.mark.parametrize("predicted, passes", [(2.0, True), (0.0, True), (2.0001, False),
                                               (1.9999, True)])
def test_relative_distance_at_and_around_1(predicted, passes):
    # |2 - 1| / (1 + eps) = 0.9999999999999998 passes; so does 0 m (|0 - 1| / (1 + eps))
    s = score(events((0, 0, 0, 0, 1.0), END), events((0, 0, 0, 0, predicted)), "micro")
    assert s["F"] == pytest.approx(1.0 if passes else 0.0)
    assert s["RDE"] == pytest.approx(abs(predicted - 1.0))
    assert s["DE"] == pytest.approx(abs(predicted - 1.0))


@pytest.mark.parametrize("order", [(85, 5), (5, 85)])
def test_matching_is_optimal_whatever_the_order(order):
    # refs at 0 and 90, predictions at 5 and 85: the Hungarian pairs 0-5 and 90-85 (5 each),
    # never 0-85 (a greedy first-come match would)
    ref = events((0, 0, 0, 0, 1.0), (0, 0, 90, 0, 1.0), END)
    pred = events(*[(0, 0, az, 0, 1.0) for az in order])
    s = score(ref, pred, "micro")
    assert s["DOAE"] == pytest.approx(5.0, abs=1e-3) and s["F"] == pytest.approx(1.0)


def test_more_predictions_than_references():
    # one match, one extra FP at half weight: F = 1 / (1 + 0.5) even though it points right
    s = score(events((0, 0, 0, 0, 1.0), END), events((0, 0, 0, 0, 1.0), (0, 0, 1, 0, 1.0)),
              "micro")
    assert s["F"] == pytest.approx(2 / 3)
    assert s["ER"] == pytest.approx(1.0)  # fp 1, fn 0 -> one insertion
    assert s["DOAE"] == pytest.approx(0.0, abs=1e-3)


def test_no_predictions():
    s = score(events((0, 0, 0, 0, 1.0), END), events())
    assert s["F"] == 0.0 and s["LR"] == 0.0
    assert math.isnan(s["DOAE"]) and math.isnan(s["RDE"]) and math.isnan(s["DE"])
    assert s["ER"] == pytest.approx(1.0)  # one deletion over one reference
    assert s["SELD"] == pytest.approx(1.0)


def test_nothing_at_all():
    s = score(events(), events())
    assert s["F"] == 0.0 and s["ER"] == 0.0 and s["SELD"] == 1.0  # F 0, not 1 (spec §2.5)
    assert math.isnan(s["DOAE"]) and math.isnan(s["RDE"])


def test_a_class_predicted_but_never_present_is_all_false_positives():
    s = score(events((0, 0, 0, 0, 1.0), END), events((0, 0, 0, 0, 1.0), (0, 5, 0, 0, 1.0)))
    assert s["F"] == pytest.approx(1 / 13)  # class 5: TP 0, FP 1 -> F_5 = 0
    assert s["ER"] == pytest.approx(1.0)  # fp 1 over one reference


def test_macro_against_micro():
    # class 0 matched perfectly, class 1 missed: macro F = (1 + 0) / 13, micro F = 1 / 1.5
    ref = events((0, 0, 0, 0, 1.0), (0, 1, 90, 0, 1.0), END)
    pred = events((0, 0, 0, 0, 1.0))
    macro, micro = score(ref, pred), score(ref, pred, "micro")
    assert macro["F"] == pytest.approx(1 / 13) and micro["F"] == pytest.approx(2 / 3)
    assert macro["LR"] == pytest.approx(1 / 13) and micro["LR"] == pytest.approx(0.5)
    assert macro["ER"] == micro["ER"] == pytest.approx(0.5)  # one deletion over two references


def test_micro_equals_macro_with_one_class():
    config = SeldConfig(n_classes=1)
    ref = events((0, 0, 0, 0, 1.0), (1, 0, 40, 0, 2.0), (2, 0, 0, 0, 1.0))
    pred = events((0, 0, 10, 0, 1.5), (1, 0, 0, 0, 2.0), (1, 0, 3, 3, 1.0))
    macro, micro = score(ref, pred, "macro", config), score(ref, pred, "micro", config)
    assert macro == pytest.approx(micro, nan_ok=True)


def test_predictions_after_the_last_reference_frame_change_nothing():
    ref = events((0, 0, 0, 0, 1.0), (5, 2, 0, 0, 1.0))  # frame 5 is the last: frames 0-4 scored
    base = events((0, 0, 0, 0, 1.0))
    late = events((0, 0, 0, 0, 1.0), (5, 2, 0, 0, 1.0), (7, 3, 0, 0, 1.0))
    assert score(ref, late) == pytest.approx(score(ref, base), nan_ok=True)
    assert score(ref, base)["F"] == pytest.approx(1 / 13)  # class 2 at frame 5 is not a miss
    every = SeldConfig(skip_last_reference_frame=False)  # frames 0-7: class 2 found, 3 is an FP
    assert score(ref, late, "micro", every)["F"] == pytest.approx(2 / (2 + 0.5))
    assert score(ref, base, "micro", every)["F"] == pytest.approx(1 / (1 + 0.5))


def _random_scene(rng, frames=30, classes=4, rate=1.5):
    rows = []
    for frame in range(frames):
        for _ in range(rng.poisson(rate)):
            rows.append((frame, rng.integers(classes), rng.uniform(-180, 180),
                         rng.uniform(-40, 60), rng.uniform(0.5, 4)))
    return rows


@pytest.mark.parametrize("seed", range(5))
def test_reordering_rows_and_relabelling_tracks_changes_nothing(seed):
    rng = np.random.default_rng(seed)
    ref_rows, pred_rows = _random_scene(rng), _random_scene(rng)
    pred_rows += [(f, c, az + rng.normal(0, 8), el, d * 1.2) for f, c, az, el, d in ref_rows]
    base = file_stats(events(*ref_rows), events(*pred_rows))
    ref_perm, pred_perm = rng.permutation(len(ref_rows)), rng.permutation(len(pred_rows))
    shuffled_ref = events(*[ref_rows[i] for i in ref_perm])
    shuffled_pred = events(*[pred_rows[i] for i in pred_perm])
    relabelled = shuffled_pred._replace(track=rng.integers(-3, 5, len(pred_rows)))
    np.testing.assert_allclose(file_stats(shuffled_ref, relabelled), base, rtol=1e-12)


def test_doae_and_rde_do_not_depend_on_the_thresholds():
    rng = np.random.default_rng(7)
    ref, pred = events(*_random_scene(rng)), events(*_random_scene(rng))
    loose = SeldConfig(doa_threshold=180.0, rel_dist_threshold=100.0)
    a, b = score(ref, pred), score(ref, pred, config=loose)
    assert a["DOAE"] == pytest.approx(b["DOAE"]) and a["RDE"] == pytest.approx(b["RDE"])
    assert b["F"] >= a["F"]


def test_files_add_up():
    rng = np.random.default_rng(3)
    files = [(events(*_random_scene(rng)), events(*_random_scene(rng))) for _ in range(3)]
    total = sum(file_stats(r, p) for r, p in files)
    assert np.all(total >= 0) and total.shape == (SeldConfig().width,)


def test_jackknife_of_three_files_by_hand():
    # one class; files A and B each one true positive, file C one miss
    config = SeldConfig(n_classes=1)
    hit = file_stats(events((0, 0, 0, 0, 1.0), END), events((0, 0, 0, 0, 1.0)), config)
    miss = file_stats(events((0, 0, 0, 0, 1.0), END), events(), config)
    jk = jackknife_scores(np.stack([hit, hit, miss]), config)["F"]
    # F = 2 / 2.5 = 0.8; leaving out A, B, C: 2/3, 2/3, 1; mean 7/9
    assert jk.value == pytest.approx(0.8)
    bias = 2 * (7 / 9 - 0.8)
    assert jk.estimate == pytest.approx(0.8 - bias)
    se = math.sqrt(2 * ((1 / 9) ** 2 * 2 + (2 / 9) ** 2) / 3)
    assert jk.std_err == pytest.approx(se)
    assert jk.high - jk.estimate == pytest.approx(4.302652729911275 * se)  # t(0.975, 2)


def test_the_cards_share_one_update_per_batch_and_never_a_stale_one():
    from perloc.metrics.seld import seld_cards

    f, doae = seld_cards()[:2]
    assert f.update is doae.update
    for shift in range(20):  # fresh arrays each batch, as a run makes them
        pred, truth = np.empty(1, dtype=object), np.empty(1, dtype=object)
        truth[0] = events((0, 0, 0, 0, 1.0), END)
        pred[0] = events((0, 0, shift, 0, 1.0))
        assert doae.score(pred, truth) == pytest.approx(shift, abs=1e-3)
        assert f.score(pred, truth) == pytest.approx(100 / 13)  # shift < 20: a hit
