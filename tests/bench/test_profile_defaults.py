"""What `bench run` runs without -m / --seed: the profile's methods and seeds."""

from __future__ import annotations

from perloc.bench.cli.commands import SweepOptions, resolve_methods, sweep_seeds
from perloc.bench.core.registry import TASKS
from perloc.bench.core.task import Profile

KWT_ROWS = {"kwt-1", "kwt-2", "kwt-3", "kwt-1-distill", "kwt-2-distill", "kwt-3-distill"}


def test_profiles_run_seed_zero_unless_they_say_otherwise():
    assert Profile("p", "d", {}).seeds == (0,)
    for name in ("kws", "kws-35"):
        assert TASKS.get(name).profile("default").seeds == (0, 1, 2)
        assert TASKS.get(name).profile("smoke").seeds == (0,)


def test_explicit_seeds_win_over_the_profiles():
    profile = Profile("p", "d", {}, seeds=(0, 1, 2))
    assert sweep_seeds(SweepOptions(), profile) == [0, 1, 2]
    assert sweep_seeds(SweepOptions(seeds=(7,)), profile) == [7]
    assert sweep_seeds(SweepOptions(seeds=(3, 4)), Profile("q", "d", {})) == [3, 4]


def test_kws_default_runs_every_kwt_size_and_its_distilled_variant():
    for name in ("kws", "kws-35"):
        task = TASKS.get(name)
        default = set(resolve_methods(name, (), "default"))
        assert KWT_ROWS | {"mhatt-rnn", "ds-cnn"} == default
        assert set(resolve_methods(name, (), "smoke")) == set(task.default_methods)
        assert resolve_methods(name, ("kwt-2",), "default") == ["kwt-2"]  # -m wins
        text = task.profile("default").description
        assert all(word in text for word in ("seeds 0, 1, 2", "2 for KWT-3", "480 steps",
                                             "bf16", "d 64 / 128 / 192"))
