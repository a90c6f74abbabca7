"""What `bench run` runs without -m / --seed: the profile's methods and seeds."""

from __future__ import annotations

from perloc.bench.cli.commands import SweepOptions, sweep_seeds
from perloc.bench.core.registry import TASKS
from perloc.bench.core.task import Profile


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

