import numpy as np
import pytest

from perloc.datasets.sim.rir_bank import RirBank, RirRequest
from perloc.datasets.sim.rooms import (
    TEST_ROOM,
    TRAIN_ROOM,
    add_noise,
    compute_rir,
    reverberate,
    sample_sources,
    true_tdoa,
    wall_model,
)


def test_paper_v_geometry_and_max_tau():
    assert TEST_ROOM.dims == (6.0, 4.0, 2.5) and TRAIN_ROOM.dims == (7.0, 5.0, 3.0)
    assert TEST_ROOM.max_tau() == 23 and TRAIN_ROOM.max_tau() == 23


def test_tdoa_sign_positive_when_mic_one_is_farther():
    mics = np.array(TEST_ROOM.mics)
    near_mic_two = np.array([3.0, 3.5, 1.25])  # on the far side of mic 2 along y
    tau = true_tdoa(mics, near_mic_two)
    assert tau == pytest.approx(0.5 * 16000 / 343)
    assert true_tdoa(mics, np.array([3.0, 0.2, 1.25])) == pytest.approx(-0.5 * 16000 / 343)
    batch = true_tdoa(mics, np.stack([near_mic_two, near_mic_two]))
    assert batch.shape == (2,)


def test_sources_stay_inside_the_room():
    sources = sample_sources(TEST_ROOM, 500, np.random.default_rng(0))
    assert (sources > 0).all() and (sources < np.array(TEST_ROOM.dims)).all()


def test_anechoic_wall_model():
    assert wall_model(TEST_ROOM.dims, 0.0) == (1.0, 0)
    absorption, order = wall_model(TEST_ROOM.dims, 0.2)
    assert 0 < absorption < 1 and order == 32


def test_reverberate_matches_pyroomacoustics_simulate():
    import pyroomacoustics as pra

    source = np.array([1.0, 1.5, 1.0])
    signal = np.random.default_rng(0).standard_normal(4000)
    absorption, order = wall_model(TEST_ROOM.dims, 0.2)
    room = pra.ShoeBox(list(TEST_ROOM.dims), fs=16000, materials=pra.Material(absorption),
                       max_order=order)
    room.add_source(list(source), signal=signal)
    room.add_microphone_array(np.array(TEST_ROOM.mics).T)
    premix = room.simulate(reference_mic=0, snr=30, return_premix=True)[0]
    ours = reverberate(compute_rir(TEST_ROOM, source, 0.2), signal)
    expected = premix / np.std(premix[0])
    np.testing.assert_allclose(ours, expected[:, : ours.shape[1]], atol=1e-5)


def test_noise_follows_the_snr_definition():
    clean = np.zeros((2, 200_000))
    noisy = add_noise(clean, 20.0, np.random.default_rng(0))
    assert noisy.std() == pytest.approx(0.1, rel=0.01)


def test_rir_bank_simulates_once(tmp_path):
    bank = RirBank(tmp_path / "bank.h5", workers=1)
    requests = [RirRequest(TEST_ROOM, (1.0, 1.0, 1.0), 0.2), RirRequest(TEST_ROOM, (2.0, 1.0, 1.0), 0.2)]
    first = bank.get_many(requests)
    assert (bank.stats.hits, bank.stats.simulated) == (0, 2)
    again = RirBank(tmp_path / "bank.h5", workers=1)
    second = again.get_many(requests)
    assert (again.stats.hits, again.stats.simulated) == (2, 0)
    assert "nothing simulated" in again.stats.describe()
    for a, b in zip(first, second, strict=True):
        np.testing.assert_array_equal(a, b)
    assert requests[0].key() != RirRequest(TEST_ROOM, (1.0, 1.0, 1.0), 0.4).key()


def test_corrupt_bank_is_rebuilt(tmp_path):
    path = tmp_path / "bank.h5"
    path.write_bytes(b"not an hdf5 file")
    bank = RirBank(path, workers=1)
    assert len(bank.get_many([RirRequest(TEST_ROOM, (1.0, 1.0, 1.0), 0.2)])) == 1
