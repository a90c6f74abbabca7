"""starss23-sim: written in the STARSS23 MIC layout and read back by the same adapter; its CSV
labels agree with its audio (energy where events are labelled, inter-microphone delays of the
labelled directions), the scene rules hold (same-class overlaps, at most three events,
distances, elevations, rooms), the classes are told apart by their spectra, and it is
deterministic by seed."""

from __future__ import annotations

import re

import numpy as np
import pytest
import soundfile as sf
from scipy.signal import stft

from perloc.datasets.dcase_csv import polar_to_unit
from perloc.datasets.seld_labels import FS, MIC_POSITIONS, PAIRS, SPEED_OF_SOUND, pair_tdoa
from perloc.datasets.starss23 import STANDIN_MARKER, Starss23
from perloc.datasets.synth.starss23_sim import (
    MOVE_HOP,
    SIZES,
    EventPlan,
    FilePlan,
    RoomPlan,
    class_sound,
    plan_files,
    reference_rows,
    render_file,
    write_starss23_sim,
)
from tests.bench.cli_helpers import invoke

HOP = 2400


def test_written_then_read_back_by_the_adapter(starss23_smoke):
    data = Starss23(starss23_smoke)
    assert data.provenance.kind == "synthetic" and (starss23_smoke / STANDIN_MARKER).is_file()
    plans = plan_files("smoke", 0)
    assert data.splits() == {s: tuple(sorted(p.stem for p in plans if p.split == s))
                             for s in ("train", "test")}
    assert len(data.splits()["train"]) == 4 and len(data.splits()["test"]) == 2
    lo, hi = SIZES["smoke"].seconds
    for plan in plans:
        fold = 3 if plan.split == "train" else 4
        assert re.fullmatch(rf"fold{fold}_room\d+_mix\d{{3}}", plan.stem)
        wav = starss23_smoke / "mic_dev" / f"dev-{plan.split}-synth" / f"{plan.stem}.wav"
        info = sf.info(str(wav))
        assert (info.samplerate, info.channels, info.subtype, info.frames) == \
            (24_000, 4, "PCM_16", plan.samples)
        assert lo <= plan.samples / FS < hi + 0.1
        assert data.n_label_frames(plan.stem) == plan.samples // HOP
        assert data.labels(plan.stem).shape == (plan.samples // HOP, 6, 5, 13)
        rows = np.array(reference_rows(plan))
        ev = data.events(plan.stem)
        assert ev.frame.tolist() == rows[:, 0].tolist() and ev.cls.tolist() == rows[:, 1].tolist()
        assert ev.track.tolist() == rows[:, 2].tolist()
        np.testing.assert_allclose(ev.xyz, polar_to_unit(rows[:, 3], rows[:, 4]), atol=1e-9)
        np.testing.assert_allclose(ev.dist, rows[:, 5] / 100)
    assert len({p.samples for p in plans}) == len(plans)  # variable lengths


def _frame_power(audio: np.ndarray) -> np.ndarray:
    n = audio.shape[1] // HOP
    return np.mean(audio[:, : n * HOP].reshape(4, n, HOP).astype(np.float64) ** 2, axis=(0, 2))


def test_labelled_frames_carry_the_sound(starss23_smoke):
    """Frames with events are louder than frames with none (and none next to them: onsets and
    reverberation tails spill into the neighbours): by more than 15 dB in the median."""
    data = Starss23(starss23_smoke)
    active, silent = [], []
    for stem in data.recordings:
        power = _frame_power(data.audio(stem))
        labelled = np.zeros(len(power) + 2, dtype=bool)
        labelled[data.events(stem).frame + 1] = True
        near = labelled[:-2] | labelled[1:-1] | labelled[2:]
        active += list(power[labelled[1:-1]])
        silent += list(power[~near])
    assert len(silent) > 10 and len(active) > 100
    assert 10 * np.log10(np.median(active) / np.median(silent)) > 15


UP = 16  # GCC-PHAT interpolation


def _gcc_phat_lag(x: np.ndarray, y: np.ndarray) -> float:
    """The lag (samples, 1/16 resolution) by which ``x`` trails ``y``: the GCC-PHAT peak."""
    n = 2 * len(x)
    cross = np.fft.rfft(x, n) * np.conj(np.fft.rfft(y, n))
    r = np.fft.irfft(cross / (np.abs(cross) + 1e-12), n * UP)
    lags = np.r_[np.arange(0, 8 * UP + 1), np.arange(-8 * UP, 0)]
    return lags[np.argmax(np.r_[r[: 8 * UP + 1], r[-8 * UP:]])] / UP


def _labelled_lags(row) -> np.ndarray:
    """pair_tdoa of a CSV row's rounded direction and distance."""
    _, _, _, az, el, cm = row
    return pair_tdoa(polar_to_unit(az, el) * cm / 100)


ROOM = RoomPlan(1, (7.2, 5.9, 3.1), 0.6, (3.1, 2.6, 1.4))


def _polar(az, el, dist):
    return tuple(float(v) for v in polar_to_unit(az, el) * dist)


@pytest.mark.parametrize("az, el, dist", [(30, 10, 2.0), (-120, -30, 1.5), (170, 50, 1.0),
                                          (75, -5, 2.5)])
def test_a_static_event_arrives_with_its_labelled_delays(az, el, dist):
    """A clapping event (broadband clicks) alone in a reverberant room: the GCC-PHAT peak of
    every microphone pair lies within a sample of the TDOA of the labelled direction."""
    event = EventPlan(2, 3000, 2 * FS, 0.0, 11, (_polar(az, el, dist),))
    plan = FilePlan("fold4_room1_mix001", "test", ROOM, 3 * FS, 30.0, 0.5, 5, (event,))
    rows = reference_rows(plan)
    assert [r[0] for r in rows] == list(range(1, 21))  # frames 1..20 hold >= half of it
    assert {r[1:] for r in rows} == {(2, 0, az, el, round(100 * dist))}
    audio = render_file(plan).T / 32768.0
    segment = audio[:, 3000: 3000 + 2 * FS]
    measured = np.array([_gcc_phat_lag(segment[i], segment[j]) for i, j in PAIRS])
    assert np.abs(measured - _labelled_lags(rows[0])).max() <= 1.0, measured
    source = np.array(_polar(az, el, dist))
    exact = FS / SPEED_OF_SOUND * np.array([np.linalg.norm(source - MIC_POSITIONS[i])
                                            - np.linalg.norm(source - MIC_POSITIONS[j])
                                            for i, j in PAIRS])
    assert np.abs(measured - exact).max() <= 0.5, (measured, exact)


def test_a_moving_event_is_heard_where_its_labels_say():
    """A clapping source turning 0 -> 90 deg azimuth in 2 s: the first and the last 0.5 s give
    the delays of the labels of their middle frame, and those differ."""
    length = 2 * FS
    points = length // MOVE_HOP + 1
    path = tuple(_polar(90 * k / (points - 1), 0, 2.0) for k in range(points))
    event = EventPlan(2, 0, length, 0.0, 4, path)
    plan = FilePlan("fold3_room1_mix001", "train", ROOM, length + FS, 35.0, 0.5, 6, (event,))
    rows = {r[0]: r for r in reference_rows(plan)}
    assert rows[0][3] == 2 and rows[19][3] == 88  # azimuth at frame centres 0.05 s, 1.95 s
    audio = render_file(plan).T / 32768.0
    for first, frame in ((0, 2), (15 * HOP, 17)):
        segment = audio[:, first: first + 5 * HOP]
        measured = np.array([_gcc_phat_lag(segment[i], segment[j]) for i, j in PAIRS])
        assert np.abs(measured - _labelled_lags(rows[frame])).max() <= 1.0, (frame, measured)
    assert np.abs(_labelled_lags(rows[2]) - _labelled_lags(rows[17])).max() >= 3


def test_the_default_plan_follows_the_scene_rules():
    plans = plan_files("default", 0)
    size = SIZES["default"]
    assert sum(p.split == "train" for p in plans) == 160 and len(plans) == 184
    assert {p.room.number for p in plans if p.split == "train"}.isdisjoint(
        p.room.number for p in plans if p.split == "test")
    same_class, three, moving, events = 0, 0, 0, 0
    classes = set()
    for plan in plans:
        room, centre = plan.room, np.asarray(plan.room.centre)
        assert 4 <= room.dims[0] <= 10 and 4 <= room.dims[1] <= 10 and 2.5 <= room.dims[2] <= 4
        assert 0.2 <= room.rt60 <= 0.8 and 1.0 <= centre[2] <= 1.8
        assert np.all(centre[:2] >= 1.0) and np.all(centre[:2] <= np.array(room.dims[:2]) - 1)
        assert size.seconds[0] <= plan.samples / FS <= size.seconds[1] + 0.1
        for event in plan.events:
            assert 0.3 * FS <= event.length <= 6 * FS and event.start + event.length <= plan.samples
            where = centre + np.asarray(event.path)
            assert np.all(where >= 0.3 - 1e-3) and np.all(where <= np.array(room.dims) - 0.3 + 1e-3)
            dist = np.linalg.norm(event.path, axis=1)
            assert np.all((dist > 0.5 - 1e-3) & (dist < 4 + 1e-3))
            moving += event.moving
            events += 1
            classes.add(event.cls)
        rows = np.array(reference_rows(plan))
        frame_class, counts = np.unique(rows[:, :2], axis=0, return_counts=True)
        same_class += int(np.sum(counts == 2))
        three += int(np.sum(counts >= 3))
        assert np.bincount(rows[:, 0]).max() <= 3  # at most three events per frame
        assert len(np.unique(rows[:, :3], axis=0)) == len(rows)  # ids unique per class and frame
        assert rows[:, 3].min() >= -180 and rows[:, 3].max() < 180
        assert rows[:, 4].min() >= -40 and rows[:, 4].max() <= 60
        assert rows[:, 5].min() >= 50 and rows[:, 5].max() <= 400
        assert rows[:, 0].max() < plan.samples // HOP
    assert classes == set(range(13))
    assert same_class > 100 and three > 0  # ADPIT B and C slots are exercised
    assert 0.1 < moving / events < 0.4


def _features(x: np.ndarray) -> np.ndarray:
    """Long-term spectrum in 24 log-spaced bands (dB re its maximum) and the spread of the frame
    energy (steady vs impulsive)."""
    f, _, z = stft(x, FS, nperseg=960, noverlap=480, nfft=1024)
    power = np.abs(z) ** 2 + 1e-10
    edges = np.geomspace(50, 12_000, 25)
    bands = np.array([power[(f >= lo) & (f < hi)].sum(0) for lo, hi in zip(edges[:-1], edges[1:],
                                                                             strict=True)])
    spectrum = 10 * np.log10(bands + 1e-10).mean(1)
    return np.r_[(spectrum - spectrum.max()) / 10, np.std(10 * np.log10(power.sum(0))) / 10]


def test_the_classes_have_distinct_signatures():
    """Nearest class centroid (leave one out) over six draws of every class: >= 90 % right."""
    feats, labels = [], []
    for cls in range(13):
        for draw in range(6):
            rng = np.random.default_rng([cls, draw])
            feats.append(_features(class_sound(cls, int(rng.uniform(1.5, 3.0) * FS), rng)))
            labels.append(cls)
    feats, labels = np.array(feats), np.array(labels)
    right = 0
    for i in range(len(labels)):
        others = np.arange(len(labels)) != i
        centroids = np.array([feats[others & (labels == c)].mean(0) for c in range(13)])
        right += np.argmin(((centroids - feats[i]) ** 2).sum(1)) == labels[i]
    assert right / len(labels) >= 0.9


def test_deterministic_by_seed(starss23_smoke, tmp_path):
    again = write_starss23_sim(tmp_path / "again", "smoke", seed=0)
    files = sorted(p.relative_to(starss23_smoke) for p in starss23_smoke.rglob("*") if p.is_file())
    assert files == sorted(p.relative_to(again) for p in again.rglob("*") if p.is_file())
    for name in files:
        assert (again / name).read_bytes() == (starss23_smoke / name).read_bytes(), name
    assert plan_files("smoke", 1) != plan_files("smoke", 0)
    assert Starss23(again).version == Starss23(starss23_smoke).version


def test_bench_data_synth_list_and_check(starss23_smoke, capsys):
    """``bench data synth starss23-sim`` on the up-to-date folder rewrites nothing; ``check
    starss23`` reads it; ``list`` shows both entries."""
    stamps = {p: p.stat().st_mtime_ns for p in starss23_smoke.rglob("*")}
    result = invoke(capsys, "data", "synth", "starss23-sim", "--out", str(starss23_smoke),
                    "--size", "smoke")
    assert result.code == 0 and result.out == f"{starss23_smoke}\n", result
    assert {p: p.stat().st_mtime_ns for p in starss23_smoke.rglob("*")} == stamps
    result = invoke(capsys, "data", "check", "starss23", "--root", str(starss23_smoke))
    assert result.code == 0 and result.out.startswith(f"{starss23_smoke}: synthetic"), result
    rows = {line.split()[0]: line for line in invoke(capsys, "data", "list").out.splitlines()[2:]}
    assert rows["starss23"].split()[1] == "real"
    assert " stand-in " in rows["starss23-sim"] and "smoke, default, paper" in rows["starss23-sim"]
