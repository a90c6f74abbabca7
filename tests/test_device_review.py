"""The factory review of the device issue, as a test: code under methods/, datasets/ and
bench/ says where a tensor lives only through ``bench/core/device.py``.

Checked on the syntax tree of every file (the wrong-device check, ``PERLOC_DEVICE_CHECK``,
catches at run time what this cannot see, e.g. a factory whose ``device`` is the wrong one):

* no ``.cuda()`` and no device string literal (``"cpu"``, ``"cuda"``, ``"cuda:0"``) as an
  argument: a device comes from an input tensor or from the mechanism;
* no ``torch.from_numpy`` (``device.host_tensor`` / ``device.tensor`` say where on purpose);
* no bare ``.numpy()`` (``device.host`` brings a tensor back from any device);
* every tensor factory outside a module's ``__init__`` (where parameters and buffers are made
  on the CPU before ``device.build`` places the module) names its ``device``.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
ROOTS = ("methods", "datasets", "bench")
MECHANISM = REPO / "bench" / "core" / "device.py"
FACTORIES = {"zeros", "ones", "empty", "full", "arange", "tensor", "as_tensor", "asarray", "eye",
             "linspace", "logspace", "rand", "randn", "randint", "randperm", "scalar_tensor",
             "hann_window", "hamming_window", "blackman_window", "bartlett_window",
             "kaiser_window", "triu_indices", "tril_indices", "empty_strided"}
DEVICE_LITERALS = {"cpu", "cuda", "meta"}


def _files() -> list[Path]:
    return sorted(p for root in ROOTS for p in (REPO / root).rglob("*.py") if p != MECHANISM)


def _is_torch_attr(node: ast.AST, names: set[str]) -> str | None:
    """``torch.NAME`` (NAME in ``names``) -> NAME."""
    if (isinstance(node, ast.Attribute) and node.attr in names
            and isinstance(node.value, ast.Name) and node.value.id == "torch"):
        return node.attr
    return None


def _device_literal(node: ast.AST) -> bool:
    return (isinstance(node, ast.Constant) and isinstance(node.value, str)
            and node.value.partition(":")[0] in DEVICE_LITERALS)


class _Review(ast.NodeVisitor):
    def __init__(self, path: Path) -> None:
        self.path, self.problems, self.in_init = path, [], []

    def _flag(self, node: ast.AST, what: str) -> None:
        self.problems.append(f"{self.path.relative_to(REPO)}:{node.lineno}: {what}")

    def visit_FunctionDef(self, node: ast.FunctionDef) -> None:
        self.in_init.append(node.name == "__init__")
        self.generic_visit(node)
        self.in_init.pop()

    visit_AsyncFunctionDef = visit_FunctionDef

    def visit_Call(self, node: ast.Call) -> None:
        func = node.func
        if isinstance(func, ast.Attribute) and func.attr == "cuda" and not node.args:
            self._flag(node, ".cuda()")
        if isinstance(func, ast.Attribute) and func.attr == "numpy" and not node.args:
            self._flag(node, "bare .numpy() (use device.host)")
        if _is_torch_attr(func, {"from_numpy"}):
            self._flag(node, "torch.from_numpy (use device.host_tensor or device.tensor)")
        literal = [k.arg for k in node.keywords if _device_literal(k.value)]
        positional = (isinstance(func, ast.Attribute) and func.attr in ("to", "device")
                      and any(_device_literal(a) for a in node.args))
        if literal or positional:
            self._flag(node, "a device named in the code (use the input's or device.current())")
        name = _is_torch_attr(func, FACTORIES)
        if (name and not (self.in_init and self.in_init[-1])
                and not any(k.arg == "device" for k in node.keywords)):
            self._flag(node, f"torch.{name} without device=")
        self.generic_visit(node)


def _problems() -> list[str]:
    out = []
    for path in _files():
        review = _Review(path)
        review.visit(ast.parse(path.read_text(), str(path)))
        out += review.problems
    return out


def test_code_names_devices_only_through_the_mechanism():
    problems = _problems()
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("source,expected", [
    ("import torch\ndef f(x):\n    return x + torch.zeros(3)\n", ["torch.zeros without device="]),
    ("import torch\ndef f(x):\n    return torch.zeros(3, device=x.device)\n", []),
    ("import torch\nclass M:\n    def __init__(self):\n        self.b = torch.ones(2)\n", []),
    ("def f(t):\n    return t.numpy()\n", ["bare .numpy()"]),
    ("def f(t):\n    return t.cuda()\n", [".cuda()"]),
    ("def f(t):\n    return t.to('cpu')\n", ["a device named"]),
    ("import torch\ndef f():\n    return torch.device('cuda:1')\n", ["a device named"]),
    ("import torch\ndef f(x):\n    return torch.device(x.device)\n", []),
    ("import torch\ndef f(p):\n    return torch.load(p, map_location='cpu')\n", ["a device named"]),
    ("import torch\ndef f(a):\n    return torch.from_numpy(a)\n", ["torch.from_numpy"]),
])
def test_the_review_flags_what_it_claims(tmp_path, monkeypatch, source, expected):
    """Known answers for the reviewer itself, on small sources."""
    path = REPO / "methods" / "_review_probe.py"
    review = _Review(path)
    review.visit(ast.parse(source))
    found = [p.split(": ", 1)[1] for p in review.problems]
    assert len(found) == len(expected)
    for got, want in zip(found, expected, strict=True):
        assert got.startswith(want)
