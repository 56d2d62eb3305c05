"""Fixtures for the report tests."""

from __future__ import annotations

from typing import Any

import pytest
from sample_result import make_result


@pytest.fixture
def result() -> dict[str, Any]:
    """Return a fresh copy of the sample result, which tests may change."""
    return make_result()
