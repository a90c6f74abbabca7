"""The one device mechanism (``bench/core/device.py``): resolving ``--device``/``--amp``,
moving data, keys that leave CPU records as they were, and the wrong-device check."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from cli_helpers import invoke, refused

from perloc.bench.core import device
from perloc.bench.core.errors import UserError
from perloc.bench.core.registry import TASKS
from perloc.bench.run.evaluate import expected_key, run_key


@pytest.mark.parametrize("spec,amp,expected", [
    ("cpu", None, device.Placement("cpu", "off")),
    ("auto", "bf16", device.Placement("cpu", "bf16")),  # this machine has no GPU
    (None, "FP16", device.Placement("cpu", "fp16")),
])
def test_resolve_on_a_machine_without_gpu(monkeypatch, spec, amp, expected):
    monkeypatch.setattr(device, "cuda_count", lambda: 0)
    assert device.resolve(spec, amp) == expected


def test_environment_gives_the_default(monkeypatch):
    monkeypatch.setattr(device, "cuda_count", lambda: 2)
    monkeypatch.setenv("PERLOC_DEVICE", "cuda:1")
    monkeypatch.setenv("PERLOC_AMP", "bf16")
    assert device.resolve() == device.Placement("cuda:1", "bf16")
    assert device.resolve("cpu", "off") == device.Placement()  # flags win
    monkeypatch.setenv("PERLOC_DEVICE", "auto")
    assert device.resolve().device == "cuda"


@pytest.mark.parametrize("spec,amp,ray_gpus,needle", [
    ("gpu", None, None, "--device: 'gpu' is not a device"),
    ("cuda:x", None, None, "is not a device"),
    ("cuda", None, None, "--device cuda: this machine sees 0 CUDA devices"),
    ("cuda:1", None, None, "sees 0 CUDA devices"),
    ("cpu", "fp8", None, "--amp: 'fp8' is not a precision"),
    ("cuda", None, 0.0, "--gpus-per-cell 1"),
    ("cpu", None, 1.0, "--gpus-per-cell"),
    ("cuda:1", None, 1.0, "only the GPU it holds"),
])
def test_bad_device_requests_are_refused(monkeypatch, spec, amp, ray_gpus, needle):
    monkeypatch.setattr(device, "cuda_count", lambda: 0)
    with pytest.raises(UserError, match=needle.replace("(", r"\(")):
        device.resolve(spec, amp, ray_gpus=ray_gpus)


def test_ray_cells_that_ask_for_gpus_run_on_their_own(monkeypatch):
    monkeypatch.setattr(device, "cuda_count", lambda: 0)  # the driver may have none
    assert device.resolve("auto", ray_gpus=1.0).device == "cuda"
    assert device.resolve("cuda", ray_gpus=0.5).device == "cuda"
    assert device.resolve("auto", ray_gpus=0.0).device == "cpu"


def test_a_local_pool_spreads_cuda_cells_over_gpus_round_robin(monkeypatch):
    monkeypatch.setattr(device, "cuda_count", lambda: 3)
    cuda = device.Placement("cuda", "bf16")
    chosen = []
    for slot in range(5):
        monkeypatch.setenv(device.SLOT_ENV, str(slot))
        chosen.append(device.for_worker(cuda).device)
    assert chosen == ["cuda:0", "cuda:1", "cuda:2", "cuda:0", "cuda:1"]
    assert device.for_worker(device.Placement("cuda:2")).device == "cuda:2"  # named: kept
    assert device.for_worker(device.Placement()).device == "cpu"
    monkeypatch.delenv(device.SLOT_ENV)
    assert device.for_worker(cuda) is cuda  # in the driver


def test_cpu_fp32_keys_are_the_keys_records_always_had():
    """A CPU fp32 cell adds nothing to its run key (so ``--device cpu`` finds today's
    records); another device kind or precision is another cell."""
    task = TASKS.get("tdoa")
    plain = run_key("tdoa", "gcc-phat", {"eps": 1e-3, "max_tau": 23, "n_fft": None}, "smoke", 0,
                    {}, "v1", {})
    cpu = expected_key(task, "gcc-phat", "smoke", 0, {}, "v1", placement=device.Placement())
    assert cpu == plain
    others = {expected_key(task, "gcc-phat", "smoke", 0, {}, "v1", placement=p)
              for p in (device.Placement("cuda"), device.Placement("cuda:1"),
                        device.Placement("cpu", "bf16"), device.Placement("cuda", "fp16"))}
    assert plain not in others and len(others) == 3  # cuda and cuda:1: one kind, one key


def test_place_moves_nested_batches_and_keeps_other_leaves():
    batch = ({"x": np.zeros(2), "y": torch.ones(2, dtype=torch.float64)}, [torch.zeros(1), 3])
    with device.using(device.Placement("meta")):  # a device other than where the data is
        moved = device.place(batch)
    assert moved[0]["x"] is batch[0]["x"]  # not a tensor: left alone
    assert moved[0]["y"].device.type == "meta" and moved[0]["y"].dtype == torch.float64
    assert moved[1][0].device.type == "meta" and moved[1][1] == 3
    assert isinstance(moved[1], list)


def test_build_makes_the_same_weights_on_every_device():
    torch.manual_seed(5)
    on_cpu = device.build(lambda: torch.nn.Linear(3, 2))
    torch.manual_seed(5)
    with device.using(device.Placement("meta")):
        elsewhere = device.build(lambda: torch.nn.Linear(3, 2))
    assert elsewhere.weight.device.type == "meta"
    torch.manual_seed(5)
    assert torch.equal(on_cpu.weight, torch.nn.Linear(3, 2).weight)


def test_host_and_tensor_round_trip():
    t = device.tensor([1.5, 2.5], dtype=torch.float32)
    assert t.device == device.current() and device.host(t).tolist() == [1.5, 2.5]
    assert device.host_tensor(np.arange(3)).device.type == "cpu"


def test_the_check_catches_a_tensor_made_without_a_device(monkeypatch):
    """Under the check a factory without ``device=`` lands on ``meta`` and cannot meet the
    data, as a forgotten CPU tensor cannot meet a CUDA one; ``device=x.device`` passes."""
    x = torch.ones(3)

    def forgetful(x):
        return x + torch.zeros(3)

    def careful(x):
        return x + torch.zeros(3, device=x.device)

    monkeypatch.setenv(device.CHECK_ENV, "1")
    with device.checked():
        assert careful(x).tolist() == [1.0, 1.0, 1.0]
        with pytest.raises(RuntimeError, match="meta"):
            forgetful(x)
        with device.unchecked():
            assert forgetful(x).device.type == "cpu"  # optimizer steps and the like
    assert forgetful(x).tolist() == [1.0, 1.0, 1.0]  # outside the check: PyTorch's defaults
    monkeypatch.delenv(device.CHECK_ENV)
    with device.checked():
        assert forgetful(x).device.type == "cpu"  # the check is off by default


def test_autocast_and_scaler_follow_the_precision():
    with device.using(device.Placement("cpu", "bf16")):
        with device.autocast():
            assert torch.mm(torch.ones(2, 2), torch.ones(2, 2)).dtype == torch.bfloat16
        assert not device.grad_scaler().is_enabled()
        assert device.grad_scaler("fp16").is_enabled()
    with device.autocast():
        assert torch.mm(torch.ones(2, 2), torch.ones(2, 2)).dtype == torch.float32


def test_labels_tell_devices_apart():
    assert device.label({"kind": "cpu", "torch_threads": 2}) == "cpu"
    assert device.label({}) == "cpu"
    assert device.label({"kind": "cpu", "amp": "bf16"}) == "cpu, bf16"
    gpu = {"kind": "cuda", "name": "NVIDIA H100 80GB HBM3", "memory_gib": 79.1}
    assert device.label(gpu) == "cuda NVIDIA H100 80GB HBM3, 79.1 GiB"


@pytest.mark.parametrize("argv,needle", [
    (("--device", "tpu"), "--device: 'tpu' is not a device"),
    (("--device", "cuda:0"), "--device cuda:0: this machine sees 0 CUDA devices"),
    (("--amp", "half"), "--amp: 'half' is not a precision"),
    (("--executor", "ray", "--device", "cuda"), "--gpus-per-cell 1"),
])
def test_bad_device_flags_through_the_cli(capsys, workspace, monkeypatch, argv, needle):
    monkeypatch.setattr(device, "cuda_count", lambda: 0)
    result = refused(capsys, workspace, "run", "tdoa", "--profile", "smoke", "-m", "gcc-phat",
                     *argv)
    assert needle in result.err


@pytest.mark.own_checkpoints  # the checked run trains (fit is checked too), not loads
def test_device_cpu_gives_the_default_record_and_passes_the_check(capsys, monkeypatch,
                                                                 workspace):
    """``bench run tdoa -m ngcc-phat --profile smoke --device cpu`` is the record a run
    without the flag gives on this CPU machine (same key, same scores, device said), and the
    same cell under the wrong-device check (every tensor made on purpose) scores the same."""
    plain = invoke(capsys, "run", "tdoa", "-m", "ngcc-phat", "--profile", "smoke", "--json")
    again = invoke(capsys, "run", "tdoa", "-m", "ngcc-phat", "--profile", "smoke",
                   "--device", "cpu", "--json")
    monkeypatch.setenv(device.CHECK_ENV, "1")
    for checkpoint in (workspace / "results" / "checkpoints").rglob("*.pt"):
        checkpoint.unlink()
    checked = invoke(capsys, "run", "tdoa", "-m", "ngcc-phat", "--profile", "smoke",
                     "--device", "cpu", "--rerun", "--json")
    assert "ngcc-phat: training" in checked.err  # fit ran under the check, not a cached load
    records = [json.loads(r.out)[0] for r in (plain, again, checked)]
    assert [r["status"] for r in records] == ["ok"] * 3
    assert len({r["key"] for r in records}) == 1
    assert records[0]["scores"] == records[2]["scores"]
    assert records[0]["device"]["kind"] == "cpu" and "amp" not in records[0]["device"]


def test_the_check_fails_a_method_that_forgets_a_device(capsys, monkeypatch):
    """A GCC-PHAT that adds a CPU tensor made without a device to its (placed) correlations,
    the mistake that breaks a CUDA run: fine on the CPU without the check, a failed cell
    naming the check with it."""
    import dataclasses

    from cli_helpers import scratch_registry

    from perloc.bench.core.registry import METHODS
    from perloc.methods.layers.gcc import estimate_tdoa, gcc
    from perloc.methods.tdoa.classical import GccTdoa

    class Forgetful(GccTdoa):
        card = dataclasses.replace(METHODS.get("gcc-phat").card, name="gcc-forgetful",
                                   aliases=())

        def predict(self, batch):
            corr = gcc(batch["signals"], [[0, 1]], self.gcc_params)
            tau = estimate_tdoa(corr + torch.zeros(corr.shape[-1]))  # no device: the bug
            return type(batch)({"tau": device.host(tau[:, 0])}, dict(batch.meta))

    scratch_registry(monkeypatch, METHODS).add("gcc-forgetful", Forgetful)
    plain = invoke(capsys, "run", "tdoa", "-m", "gcc-forgetful", "--profile", "smoke",
                   "--device", "cpu", "--json")
    assert plain.code == 0 and json.loads(plain.out)[0]["status"] == "ok"
    monkeypatch.setenv(device.CHECK_ENV, "1")
    checked = invoke(capsys, "run", "tdoa", "-m", "gcc-forgetful", "--profile", "smoke",
                     "--device", "cpu", "--rerun", "--json")
    (record,) = json.loads(checked.out)
    assert checked.code == 1 and record["status"] == "failed"
    assert record["reason"].startswith("wrong-device check: a tensor made without a device")


def test_the_placement_reaches_pool_workers_and_their_records(capsys):
    """Cells run by a local pool carry their placement: a bf16 sweep's records say so, and
    are cells of their own next to the fp32 ones."""
    argv = ("run", "tdoa", "-m", "gcc-phat", "-m", "gcc-scot", "--profile", "smoke",
            "--jobs", "2", "--device", "cpu", "--json")
    half = invoke(capsys, *argv, "--amp", "bf16")
    full = invoke(capsys, *argv)
    assert half.code == 0 and full.code == 0, half.err + full.err
    half_records, full_records = json.loads(half.out), json.loads(full.out)
    assert [r["device"].get("amp") for r in half_records] == ["bf16", "bf16"]
    assert all("amp" not in r["device"] for r in full_records)
    assert not {r["key"] for r in half_records} & {r["key"] for r in full_records}
