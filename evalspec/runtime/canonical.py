"""Canonical JSON and the hashes built on it (run ids, stage keys, fingerprints)."""

from __future__ import annotations

import hashlib
import json
from typing import Any

__all__ = ["canonical_json", "digest"]


def canonical_json(value: Any) -> str:
    """Return `value` as canonical JSON: sorted keys, no whitespace, one float form.

    Floats are written in Python's shortest round-trip form, so equal floats
    always give equal text; integers stay integers.
    """
    return json.dumps(
        value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=True
    )


def digest(*parts: Any) -> str:
    """Return the sha256 hex digest of the canonical JSON of `parts`."""
    text = canonical_json(list(parts))

    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()
