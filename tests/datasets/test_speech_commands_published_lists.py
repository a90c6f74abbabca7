"""The SHA-1 speaker-hash rule against entries of Google's PUBLISHED list files.

The stand-in's lists are written with :func:`which_set` itself, so the other split tests are
circular. Here the expected split of each path is where Google's own list files put it; the
entries were copied by hand from repositories that commit those files unchanged:

* v0.02: ``ubkarakaya/Human-Data-Analytic`` (commit 385537c9), ``validation_list.txt``
  (9,981 lines) and ``testing_list.txt`` (11,005 lines), the v0.02 list sizes; the testing
  list starts with ``right/bb05582b_nohash_3.wav`` like the one in the archive.
* v0.01: ``christosfranco/Signal-Processing-and-Voice-Recognition`` (commit c98870a7),
  ``validation_list.txt`` (6,798 lines) and ``testing_list.txt`` (6,835 lines), the v0.01
  sizes. The same repository commits ``train_list.txt``, 51,088 paths: disjoint from both
  lists, and 51,088 + 6,798 + 6,835 = 64,721 = the 64,727 files of v0.01 less its 6
  background recordings, so it is every other clip of the corpus, i.e. the training set.

Per list: ten entries spread over the file (every tenth of it), plus the two entries whose
speaker hash lies nearest the 10 % and 20 % boundaries (3bdf05d3 at 9.907 %, beb458a4 at
10.001 %, ffb86d3c at 10.062 %, 5f449e17 at 19.999 %, 59fe87e6 at 20.067 %), which catch a
wrong modulus, scale or comparison. When this study ran the rule over every line of the five
files (85,708 paths), it agreed with all of them.
"""

from __future__ import annotations

import pytest

from perloc.datasets.speech_commands import which_set

V2_VALIDATION = (
    "right/a69b9b3e_nohash_0.wav", "tree/d874a786_nohash_0.wav", "go/0ab3b47d_nohash_1.wav",
    "follow/64e48f55_nohash_0.wav", "stop/8dc18a75_nohash_3.wav", "one/9190045a_nohash_0.wav",
    "up/f427aa81_nohash_0.wav", "two/ad63d93c_nohash_3.wav", "yes/fde2dee7_nohash_1.wav",
    "five/ccca5655_nohash_1.wav", "nine/1942abd7_nohash_1.wav", "off/3bdf05d3_nohash_1.wav",
)
V2_TESTING = (
    "right/bb05582b_nohash_3.wav", "tree/44715c1c_nohash_0.wav", "go/37dca74f_nohash_1.wav",
    "follow/b7e9f841_nohash_2.wav", "stop/cd85758f_nohash_0.wav", "one/a7216980_nohash_0.wav",
    "up/e1469561_nohash_1.wav", "two/8056e897_nohash_0.wav", "yes/1538beb7_nohash_0.wav",
    "five/798f702a_nohash_1.wav", "visual/beb458a4_nohash_1.wav",
    "three/5f449e17_nohash_0.wav",
)
V1_VALIDATION = (
    "cat/8b775397_nohash_0.wav", "four/6c0f6493_nohash_2.wav", "left/62641b88_nohash_0.wav",
    "happy/2643992f_nohash_0.wav", "dog/b7a6f709_nohash_0.wav", "wow/9cde5de8_nohash_2.wav",
    "bed/b1426003_nohash_0.wav", "on/fc94edb0_nohash_0.wav", "one/f17be97f_nohash_2.wav",
    "three/dca2797e_nohash_1.wav", "nine/1942abd7_nohash_1.wav", "off/3bdf05d3_nohash_1.wav",
)
V1_TESTING = (
    "cat/2aa787cf_nohash_0.wav", "tree/82b99576_nohash_0.wav", "left/f292725f_nohash_0.wav",
    "happy/6e916de8_nohash_0.wav", "dog/3df9a3d4_nohash_0.wav", "wow/5744b6a7_nohash_1.wav",
    "bed/bb31b82b_nohash_0.wav", "on/c22d3f18_nohash_4.wav", "one/d103dd6e_nohash_0.wav",
    "three/b737ee80_nohash_0.wav", "nine/ffb86d3c_nohash_0.wav", "three/5f449e17_nohash_0.wav",
)
V1_TRAINING = (
    "cat/e91d173e_nohash_1.wav", "tree/6b7d5101_nohash_0.wav", "nine/d8ed3745_nohash_1.wav",
    "down/8830e17f_nohash_0.wav", "sheila/72be9202_nohash_0.wav", "wow/712e4d58_nohash_0.wav",
    "bed/f104f742_nohash_1.wav", "on/a1cff772_nohash_3.wav", "bird/9ce7a419_nohash_0.wav",
    "three/2d3c8dcb_nohash_0.wav", "cat/59fe87e6_nohash_0.wav", "on/b7669804_nohash_0.wav",
)

PUBLISHED = [
    *((path, "validation") for path in V2_VALIDATION + V1_VALIDATION),
    *((path, "testing") for path in V2_TESTING + V1_TESTING),
    *((path, "training") for path in V1_TRAINING),
]


@pytest.mark.parametrize(("path", "split"), PUBLISHED)
def test_hash_rule_puts_published_entries_in_their_published_split(path, split):
    assert which_set(path) == split
    assert which_set(path.split("/")[1]) == split  # the word folder plays no part

