"""Every metric's docstring example is a known-answer test too."""

import doctest
import importlib

import pytest


@pytest.mark.parametrize("module", ["perloc.metrics.tdoa", "perloc.metrics.localization",
                                    "perloc.metrics.bootstrap",
                                    "perloc.metrics.classification"])
def test_docstring_examples(module):
    result = doctest.testmod(importlib.import_module(module))
    assert result.attempted > 0 and result.failed == 0
