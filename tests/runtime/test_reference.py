"""The component reference: docs/COMPONENTS.md and the registry's entries."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from evalspec.runtime import registry
from evalspec.runtime.components.reference import render_markdown, to_json

COMPONENTS_MD = Path(__file__).resolve().parents[2] / "docs" / "COMPONENTS.md"
ENTRIES = to_json()


def test_components_md_is_up_to_date() -> None:
    """docs/COMPONENTS.md is what render_markdown() produces now."""
    assert COMPONENTS_MD.read_text(encoding="utf-8") == render_markdown(), (
        "docs/COMPONENTS.md is stale; regenerate it with "
        "`python -m evalspec.runtime.components.reference > docs/COMPONENTS.md`"
    )


def test_reference_lists_every_registered_component() -> None:
    """Each of evalspec's registered components has a section under its kind."""
    text = render_markdown()

    for cls in registry.all_components():
        if cls.__module__.startswith("evalspec."):
            assert f'<a id="{cls.kind}-{cls.id.replace("_", "-")}"></a>' in text


def test_reference_documents_writing_your_own_components() -> None:
    """The page explains each kind's protocol and the entry-point group."""
    text = render_markdown()

    assert '[project.entry-points."evalspec.components"]' in text
    for heading in ["Models", "Reducers", "Parsers", "Metrics", "Judges"]:
        assert f"### {heading}\n" in text
    assert "async def complete(self, request: Request) -> Completion" in text


@pytest.mark.parametrize("entry", ENTRIES, ids=lambda e: f"{e['kind']}:{e['id']}")
def test_builtin_components_are_fully_documented(entry: dict[str, Any]) -> None:
    """Every builtin has a snake_case id, a version, a summary and a usage line."""
    assert re.fullmatch(r"[a-z][a-z0-9_]*", entry["id"])
    assert re.fullmatch(r"[0-9]+", entry["version"])
    assert entry["summary"] and entry["summary"][0].isupper()
    assert "Usage::" in entry["doc"]
    for param in entry["params"]:
        assert param["description"], f"{entry['id']}.{param['name']} has no description"


def test_to_json_describes_parameters_with_types_and_defaults() -> None:
    """Parameters carry their type, default and whether they are required."""
    oracle = next(e for e in ENTRIES if e["id"] == "noisy_oracle")
    params = {p["name"]: p for p in oracle["params"]}

    assert params["error_rate"]["type"] == "float"
    assert params["error_rate"]["default"] == 0.0
    assert params["answer_field"]["required"] is False
    assert oracle["schema"]["properties"]["error_rate"]["maximum"] == 1.0


def test_to_json_marks_required_parameters() -> None:
    """A parameter without a default is required and has no default."""
    rubric = next(e for e in ENTRIES if e["kind"] == "judge" and e["id"] == "rubric")
    params = {p["name"]: p for p in rubric["params"]}

    assert params["rubric"]["required"] is True
    assert params["rubric"]["default"] is None
    assert params["scale"]["default"] == [1, 5]
    assert params["scale"]["type"] == 'tuple[int, int] | "pass_fail"'
