"""Every package states its public names in a sorted `__all__`."""

from __future__ import annotations

import importlib

import pytest

PACKAGES = [
    "evalspec",
    "evalspec.compiler",
    "evalspec.grammar",
    "evalspec.reports",
    "evalspec.runtime",
    "evalspec.runtime.components",
    "evalspec.runtime.stores",
]


@pytest.mark.parametrize("name", PACKAGES)
def test_package_all_is_sorted_and_complete(name: str) -> None:
    """`__all__` is sorted, has no repeats, and every name in it exists."""
    package = importlib.import_module(name)
    exported = list(package.__all__)

    assert exported == sorted(set(exported))
    missing = [n for n in exported if not hasattr(package, n)]
    assert missing == []
