"""The sound-source-localization batch layout shared by SSL datasets and methods (Paper VII).

A test or training batch (``perloc.bench.core.batch.Batch``) for the ``ssl`` task holds:

* ``signals``      float32 ``[B, M, N]``: microphone audio at 16 kHz, N = 2048 (one frame).
* ``mic_pos``      float32 ``[B, M, 3]``: microphone positions in metres; rows of microphones
  whose coordinates are unknown to the method (setups 2_a / 2_b) are NaN.
* ``mic_true``     float32 ``[B, M, 3]``: the true microphone positions (scoring only).
* ``mic_unknown``  float32 ``[B, M, 3]``: true positions of the microphones whose coordinates
  are hidden, NaN elsewhere (scoring of setups 2_a / 2_b only).
* ``source_signal`` float32 ``[B, N]``: the signal at the source (LuViRA's 12th microphone);
  methods may use it only where ``source_known`` is True (setups 1_b / 2_b).
* ``source_known`` bool ``[B]``.
* ``position``     float32 ``[B, 3]``: the true source position (the target).

``meta`` holds the condition columns: ``setup`` ("1_a" | "1_b" | "2_a" | "2_b"), ``mics``
(M: microphones with audio and coordinates in 1_x, known coordinates in 2_x), ``t60``,
``snr`` and the unit column (``trajectory`` or ``speaker``).

Predictions are a Batch with ``position`` ``[B, 3]`` (NaN for a frame the method could not
solve, counted as the 3 m cap by the metric) and, for setups 2_a / 2_b, ``mic_pos``
``[B, M, 3]`` (estimates of the unknown microphones).

Conventions (spec tdoa_ssl.md section 0): c = 343 m/s, fs = 16 kHz; the TDOA of the ordered pair
(i, j) is ``tau_ij = (|s - r_i| - |s - r_j|) * fs / c`` samples, positive when mic i is farther.
"""

from __future__ import annotations

import numpy as np

SPEED_OF_SOUND = 343.0
SAMPLE_RATE = 16_000
FRAME = 2048
SETUPS = ("1_a", "1_b", "2_a", "2_b")


def tdoa_samples(source: np.ndarray, mics: np.ndarray, pairs: np.ndarray,
                 fs: float = SAMPLE_RATE, c: float = SPEED_OF_SOUND) -> np.ndarray:
    """True TDOAs ``[..., P]`` in samples of ``source [..., 3]`` for ``pairs [P, 2]`` of ``mics [..., M, 3]``.

    >>> tdoa_samples(np.array([0.0, 0, 0]), np.array([[3.43, 0, 0], [0, 0, 0]]), np.array([[0, 1]]))
    array([160.])
    """
    distance = np.linalg.norm(mics - source[..., None, :], axis=-1)
    return (distance[..., pairs[:, 0]] - distance[..., pairs[:, 1]]) * fs / c


def setup_1a_rows(batch) -> np.ndarray:
    """Rows of setup 1_a (all M mics with audio and coordinates, source signal hidden): the
    only setup the baselines solve."""
    return np.asarray(batch.meta["setup"]) == "1_a"
