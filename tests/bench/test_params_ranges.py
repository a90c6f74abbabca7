from dataclasses import dataclass

import pytest

from perloc.bench.core.errors import UserError
from perloc.bench.run.params import build_params, parse_overrides
from perloc.bench.run.ranges import parse_range


@pytest.mark.parametrize("text,expected", [("0:30", (0.0, 30.0)), ("6", (6.0, 6.0)),
                                           ("0.2:0.6", (0.2, 0.6)), ("-5:5", (-5.0, 5.0))])
def test_ranges(text, expected):
    assert parse_range("--snr", text) == expected


@pytest.mark.parametrize("text", ["5:a", "", ":", "1:2:3", "30:0", "nan:1", "a"])
def test_malformed_ranges_name_the_flag(text):
    with pytest.raises(UserError, match="--snr"):
        parse_range("--snr", text)


@dataclass(frozen=True)
class _Params:
    eps: float = 1e-3
    max_tau: int = 23
    n_fft: int | None = None


def test_params_overrides_are_typed():
    params = build_params(_Params, parse_overrides(["max_tau=10", "eps=1", "n_fft=null"]))
    assert params == _Params(eps=1.0, max_tau=10, n_fft=None)
    with pytest.raises(UserError, match="unknown parameter"):
        build_params(_Params, {"nope": 1})
    with pytest.raises(UserError, match="max_tau"):
        build_params(_Params, {"max_tau": "ten"})
    with pytest.raises(UserError, match="key=value"):
        parse_overrides(["max_tau"])


@dataclass(frozen=True)
class _Sizes:
    channels: tuple[int, ...] = (1, 2)
    betas: tuple[float, ...] = (0.0, 1.0)
    head: str = "regression"


def test_tuple_params_from_lists():
    params = build_params(_Sizes, parse_overrides(["channels=[4,8]", "betas=[0,0.5]"]))
    assert params == _Sizes(channels=(4, 8), betas=(0.0, 0.5))
    with pytest.raises(UserError, match="channels"):
        build_params(_Sizes, {"channels": [1.5]})
    with pytest.raises(UserError, match="channels"):
        build_params(_Sizes, {"channels": 3})
