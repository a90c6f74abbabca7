"""Bad CIFAR input through ``bench run fl --data-root`` (a truncated pickle, a pickle naming
``os.system``, data of the wrong shape, labels out of range): one error line naming the file,
exit 2, nothing written and nothing executed; unknown setups, models and partitions likewise."""

from __future__ import annotations

import pytest
from cli_helpers import refused

from perloc.bench.run import cells
from tests.datasets.test_cifar import DAMAGE
from tests.datasets.test_cifar import cifar10_root as hand_written_root  # noqa: F401  (fixture)

BY_NAME = {f.__name__.strip("_"): f for f in DAMAGE}
CASES = [BY_NAME[n] for n in ("truncated", "forbidden", "short_rows", "image_array", "label_10",
                              "negative_label")]
RUN = ("run", "fl", "--profile", "paper", "-w", "setup=cifar10-iid", "-m", "fedavg")


@pytest.fixture(autouse=True)
def _fresh_process(monkeypatch):
    monkeypatch.setattr(cells, "_DATASETS", {})


@pytest.mark.parametrize("damage", CASES, ids=lambda f: f.__name__.strip("_"))
def test_bad_cifar_is_one_line_exit_2_nothing_written(capsys, workspace, hand_written_root,  # noqa: F811
                                                     damage):
    path, needle = damage(hand_written_root)
    result = refused(capsys, workspace, *RUN, "--data-root", str(hand_written_root))
    assert str(path) in result.err and needle in result.err
    assert not (hand_written_root / "pwned").exists()


@pytest.mark.parametrize("args, needle", [
    (("-w", "setup=cifar10-bogus"), "setup"),
    (("-p", "model=vgg"), "model"),
    (("-m", "fedprox"), "fedprox"),
])
def test_unknown_setups_models_and_methods_are_refused(capsys, workspace, args, needle):
    result = refused(capsys, workspace, "run", "fl", "--profile", "smoke", *args)
    assert needle in result.err


def test_a_training_condition_needs_one_value_when_training_outside_a_sweep():
    from perloc.bench.core.errors import UserError
    from perloc.bench.core.registry import TASKS
    from perloc.bench.run.training import training_selection

    task = TASKS.get("fl")
    spec = task.profile("default")
    assert training_selection(task, spec, {"setup": ("gsc-speaker",)}) == {
        "setup": ("gsc-speaker",)}
    with pytest.raises(UserError, match="one model per setup"):
        training_selection(task, spec, {})
