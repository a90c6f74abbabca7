import numpy as np

from perloc.bench.core.batch import Batch


def test_concat_pads_per_microphone_float_columns_with_nan():
    a = Batch({"mic_pos": np.ones((2, 5, 3)), "position": np.zeros((2, 3))})
    b = Batch({"mic_pos": np.ones((1, 7, 3)), "position": np.zeros((1, 3))})
    out = Batch.concat([a, b])
    assert out["mic_pos"].shape == (3, 7, 3)
    assert np.isnan(out["mic_pos"][:2, 5:]).all() and (out["mic_pos"][2] == 1).all()
    assert out["position"].shape == (3, 3)
