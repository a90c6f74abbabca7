"""Where tensors live: the one device mechanism every method and the harness use.

A cell runs under one :class:`Placement` (``--device auto|cpu|cuda[:N]`` or ``PERLOC_DEVICE``,
``--amp off|bf16|fp16`` or ``PERLOC_AMP``, and ``--compile`` or ``PERLOC_COMPILE=1`` for
``torch.compile`` of training forwards), entered with :func:`using`. Code never
names a device itself; it asks this module:

* :func:`tensor` makes a tensor on the cell's device from data (inputs of a forward pass);
  :func:`host_tensor` makes one on the CPU on purpose (data preparation before a move);
* :func:`place` moves a module, a tensor or a nested tuple / list / dict of tensors to the
  cell's device (non-blocking from pinned memory on CUDA); :func:`build` constructs a module
  on the CPU (so a seed gives the same initial weights on every device) and places it;
* :func:`host` brings a tensor back as a NumPy array;
* :func:`autocast` and :func:`grad_scaler` give mixed precision on the cell's device type
  (bf16, or fp16 with a gradient scaler);
* :func:`describe` says what ran the cell (device name and memory), for records and boards.

Tensor factories inside modules follow their input (``device=x.device``), never a default.

The wrong-device check (``PERLOC_DEVICE_CHECK=1``, CPU only): inside :func:`checked` scopes
(the harness wraps every ``fit`` and ``predict``) PyTorch's default device becomes ``meta``.
A tensor created without an explicit device then lands on ``meta`` while the data sits on the
CPU, and the first operation that mixes them raises, just as a forgotten CPU tensor meets a
CUDA tensor on a GPU. (Stricter than CUDA: a CPU scalar tensor, which CUDA tolerates, is
flagged too.) Work that legitimately uses PyTorch's defaults (optimizer steps) runs in
:func:`unchecked`.
"""

from __future__ import annotations

import contextlib
import os
import platform
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, TypeVar

from perloc.bench.core.errors import UserError

DEVICE_ENV = "PERLOC_DEVICE"
AMP_ENV = "PERLOC_AMP"
COMPILE_ENV = "PERLOC_COMPILE"
CHECK_ENV = "PERLOC_DEVICE_CHECK"
AMP_CHOICES = ("off", "bf16", "fp16")
_SPEC = re.compile(r"^(auto|cpu|cuda(:\d+)?)$")
M = TypeVar("M")


@dataclass(frozen=True)
class Placement:
    """The device a cell runs on (``cpu``, ``cuda`` or ``cuda:N``) and its autocast precision."""

    device: str = "cpu"
    amp: str = "off"
    compile: bool = False  # training steps through torch.compile(model)

    @property
    def kind(self) -> str:
        """``cpu`` or ``cuda``: what a record's numbers depend on (not the index)."""
        return self.device.partition(":")[0]

    def key_parts(self) -> tuple:
        """Extra run-key and checkpoint-key parts: none on the CPU in fp32, so those keys are
        the ones they always were; the device kind and precision otherwise."""
        if (self.kind, self.amp, self.compile) == ("cpu", "off", False):
            return ()
        return (self.kind, self.amp, *(("compile",) if self.compile else ()))

    def summary(self) -> str:
        """``cuda:1, bf16, compiled``: the device, then what is not the default."""
        return ", ".join([self.device, *([self.amp] if self.amp != "off" else []),
                          *(["compiled"] if self.compile else [])])

    def with_index(self, index: int) -> Placement:
        """This placement on CUDA device ``index`` (a local pool's slot); CPU unchanged."""
        return self if self.kind == "cpu" else Placement(f"cuda:{index}", self.amp, self.compile)


CPU = Placement()
HOST = "cpu"  # where data is prepared on purpose: ``torch.randn(..., device=device.HOST)``
_CURRENT: list[Placement] = [CPU]
SLOT_ENV = "PERLOC_WORKER_SLOT"  # a local pool worker's index (set by the pool)


def for_worker(where: Placement) -> Placement:
    """The placement a cell takes in this process: ``cuda`` without an index goes to
    ``cuda:(slot mod devices)`` in a local pool's worker (one GPU per worker, round robin);
    a Ray worker sees only the GPUs it asked for, so it keeps ``cuda`` (its first)."""
    slot = os.environ.get(SLOT_ENV)
    if where.device != "cuda" or slot is None or cuda_count() < 2:
        return where
    return where.with_index(int(slot) % cuda_count())


def parse_spec(spec: str | None, flag: str = "--device") -> str:
    """``spec`` (else ``$PERLOC_DEVICE``, else ``auto``) checked for its shape."""
    value = (spec or os.environ.get(DEVICE_ENV) or "auto").strip().lower()
    if not _SPEC.match(value):
        raise UserError(f"{flag}: {value!r} is not a device (auto, cpu, cuda or cuda:N)")
    return value


def parse_amp(amp: str | None, flag: str = "--amp") -> str:
    value = (amp or os.environ.get(AMP_ENV) or "off").strip().lower()
    if value not in AMP_CHOICES:
        raise UserError(f"{flag}: {value!r} is not a precision ({', '.join(AMP_CHOICES)})")
    return value


def cuda_count() -> int:
    import torch

    return torch.cuda.device_count() if torch.cuda.is_available() else 0


def parse_compile(flag: bool | None) -> bool:
    if flag is not None:
        return bool(flag)
    value = os.environ.get(COMPILE_ENV, "").strip().lower()
    if value not in ("", "0", "1", "true", "false"):
        raise UserError(f"{COMPILE_ENV}: {value!r} is not 0 or 1")
    return value in ("1", "true")


def resolve(spec: str | None = None, amp: str | None = None, compile: bool | None = None, *,
            ray_gpus: float | None = None) -> Placement:
    """The placement a command runs its cells under, checked before any work.

    Local cells (``ray_gpus`` None): ``auto`` is CUDA when this process sees a GPU, else the
    CPU; ``cuda[:N]`` must name a device this machine has. Ray cells (``ray_gpus``: the GPUs
    each cell asks for): ``auto`` is CUDA when they ask for one, and ``cuda`` needs them to
    (each then sees its own GPU as ``cuda``)."""
    value, precision, compiled = parse_spec(spec), parse_amp(amp), parse_compile(compile)
    if ray_gpus is not None:
        return Placement(_ray_device(value, ray_gpus), precision, compiled)
    if value == "auto":
        value = "cuda" if cuda_count() > 0 else "cpu"
    if value.startswith("cuda") and int(value.partition(":")[2] or 0) >= cuda_count():
        raise UserError(f"--device {value}: this machine sees {cuda_count()} CUDA devices")
    return Placement(value, precision, compiled)


def _ray_device(value: str, gpus: float) -> str:
    if value == "auto":
        return "cuda" if gpus > 0 else "cpu"
    if value == "cpu":
        if gpus > 0:
            raise UserError("--gpus-per-cell: the cells would hold GPUs but run on the CPU "
                            "(--device cpu); use --device cuda or auto")
        return value
    if value != "cuda":
        raise UserError(f"--device {value}: a Ray cell sees only the GPU it holds: --device cuda")
    if gpus <= 0:
        raise UserError("--device cuda: Ray cells see a GPU only when they ask for one "
                        "(--gpus-per-cell 1, or a fraction to share one)")
    return value


def placement() -> Placement:
    return _CURRENT[-1]


def current():
    """The torch.device of the running cell."""
    import torch

    return torch.device(placement().device)


@contextlib.contextmanager
def using(where: Placement) -> Iterator[Placement]:
    """Run the enclosed code under ``where`` (process-wide: a cell owns its process)."""
    _CURRENT.append(where)
    try:
        if where.kind == "cuda":
            import torch

            torch.cuda.set_device(current())
        yield where
    finally:
        _CURRENT.pop()


def check_enabled() -> bool:
    return os.environ.get(CHECK_ENV, "") not in ("", "0") and placement().kind == "cpu"


def _default_device(name: str):
    """PyTorch's default device set to ``name`` while the check is on, else nothing."""
    if not check_enabled():
        return contextlib.nullcontext()
    import torch

    return torch.device(name)


def checked():
    """The wrong-device check around a method's ``fit`` or ``predict`` (see the module doc)."""
    return _default_device("meta")


def unchecked():
    """PyTorch's own defaults back (optimizer steps, schedulers) inside a checked scope."""
    return _default_device(HOST)


def tensor(data: Any, dtype=None):
    """``data`` as a tensor on the cell's device."""
    import torch

    return torch.as_tensor(data, dtype=dtype, device=current())


def host_tensor(data: Any, dtype=None):
    """``data`` as a CPU tensor, on purpose (batches are prepared here, then placed)."""
    import torch

    return torch.as_tensor(data, dtype=dtype, device=HOST)


def _each_tensor(obj: Any, fn: Callable) -> Any:
    """``obj`` with ``fn`` applied to each tensor in it (a tensor, or tuples / lists / dicts of
    them, nested; other leaves kept)."""
    import torch

    if isinstance(obj, torch.Tensor):
        return fn(obj)
    if isinstance(obj, tuple | list):
        return type(obj)(_each_tensor(item, fn) for item in obj)
    if isinstance(obj, dict):
        return {key: _each_tensor(value, fn) for key, value in obj.items()}
    return obj


def place(obj: M) -> M:
    """A module, tensor, or tuple / list / dict of them (other leaves kept) on the cell's
    device. Tensors in pinned memory move without blocking."""
    import torch

    where = current()
    if isinstance(obj, torch.nn.Module):
        return obj.to(where)
    return _each_tensor(obj, lambda t: t if t.device == where
                        else t.to(where, non_blocking=t.is_pinned()))


def build(factory: Callable[[], M]) -> M:
    """``factory()`` constructed on the CPU (the same initial weights from a seed on every
    device), then placed on the cell's device."""
    import torch

    with torch.device(HOST):
        module = factory()
    return place(module)


def pinned(obj: M) -> M:
    """Tensors of ``obj`` in page-locked memory when the cell runs on CUDA (else unchanged)."""
    if placement().kind != "cuda":
        return obj
    return _each_tensor(obj, lambda t: t.pin_memory() if t.device.type == "cpu" else t)


def host(t):
    """A tensor's values as a NumPy array (from any device)."""
    return t.detach().cpu().numpy()


def autocast(precision: str | None = None):
    """Autocast on the cell's device type: ``precision`` (else the placement's ``amp``);
    ``off`` or None runs in fp32."""
    import torch

    value = precision or placement().amp
    if value in (None, "off"):
        return contextlib.nullcontext()
    dtype = {"bf16": torch.bfloat16, "fp16": torch.float16}[value]
    return torch.autocast(placement().kind, dtype=dtype)


def grad_scaler(precision: str | None = None):
    """A gradient scaler, enabled for fp16 only (bf16 keeps fp32's exponent range)."""
    import torch

    value = precision or placement().amp
    return torch.amp.GradScaler(placement().kind, enabled=value == "fp16")


def synchronize() -> None:
    """Wait for the cell's device (timings of asynchronous CUDA work)."""
    if placement().kind == "cuda":
        import torch

        torch.cuda.synchronize(current())


def describe() -> dict[str, Any]:
    """What runs the cell: device kind, name and memory, precision, and the host's threads."""
    import torch

    info: dict[str, Any] = {"kind": placement().kind, "torch_threads": torch.get_num_threads(),
                            "cpu_count": os.cpu_count(), "machine": platform.machine()}
    if placement().amp != "off":
        info["amp"] = placement().amp
    if placement().compile:
        info["compile"] = True
    if placement().kind == "cuda":
        props = torch.cuda.get_device_properties(current())
        info.update(name=props.name, index=current().index or 0,
                    memory_gib=round(props.total_memory / 2**30, 1),
                    capability=f"{props.major}.{props.minor}")
    return info


def label(info: dict[str, Any]) -> str:
    """A record's device in a few words (``cpu``, ``cuda NVIDIA H100 80GB HBM3, 79.1 GiB``),
    with the precision when not fp32: boards never rank different labels as one."""
    info = info or {}
    parts = ["cpu" if info.get("kind", "cpu") == "cpu"
             else f"cuda {info.get('name', '?')}, {info.get('memory_gib', '?')} GiB"]
    parts += [info["amp"]] if info.get("amp", "off") != "off" else []
    parts += ["compiled"] if info.get("compile") else []
    return ", ".join(parts)
