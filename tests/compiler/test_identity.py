"""What a run *is*: every identity field changes run_id, nothing else does."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from evalspec.compiler import compile_file, compile_text
from evalspec.compiler.snapshot import run_id_of
from evalspec.runtime.canonical import canonical_json
from evalspec.runtime.components.models import NoisyOracle

BASE = """\
experiment ident {
  seed 7
}

dataset qa {
  case c1 { question "2+2"  answer "4" }
  case c2 { question "3+3"  answer "6" }
}

model solver { use noisy_oracle  error_rate 0.2 }
model grader { use reference_grader }

prompt ask "Q: {{ question }}"

generate { model solver  prompt ask  samples 2 }
reduce majority_vote
parse last_number
score exact_match { expected answer }
score contains { expected answer }

judge correct {
  model grader
  rubric "Is the answer right?"
  scale 1 to 5
  reference answer
}
"""

# Each entry rewrites one identity field of BASE: (label, old text, new text).
IDENTITY_EDITS = [
    ("dataset content", 'answer "4"', 'answer "5"'),
    (
        "dataset cases",
        'answer "6" }',
        'answer "6" }\n  case c3 { question "1" answer "1" }',
    ),
    ("component id", "parse last_number", "parse first_number"),
    ("component params", "error_rate 0.2", "error_rate 0.3"),
    ("reducer", "reduce majority_vote", "reduce first"),
    (
        "metric params",
        "score contains { expected answer }",
        "score contains { expected question }",
    ),
    ("prompt text", '"Q: {{ question }}"', '"Question: {{ question }}"'),
    ("prompt whitespace", '"Q: {{ question }}"', '"Q:  {{ question }}"'),
    ("samples", "samples 2", "samples 3"),
    ("seed", "seed 7", "seed 8"),
    ("judge rubric", '"Is the answer right?"', '"Is the answer correct?"'),
    ("judge scale", "scale 1 to 5", "scale 1 to 10"),
    ("judge model", "  model grader\n", "  model solver\n"),
]

# Each entry rewrites BASE without changing what the experiment means.
NEUTRAL_EDITS = [
    ("comments", "generate {", "# The matrix.\ngenerate {  # one subject\n"),
    (
        "layout",
        "model solver { use noisy_oracle  error_rate 0.2 }",
        "model solver {\n    use noisy_oracle\n\n    error_rate 0.2\n}",
    ),
    ("experiment name", "experiment ident", "experiment renamed"),
    ("dataset name", "dataset qa", "dataset questions"),
    ("judge name", "judge correct", "judge verdict"),
    (
        "block order",
        "reduce majority_vote\nparse last_number\n",
        "parse last_number\nreduce majority_vote\n",
    ),
    (
        "score order",
        "score exact_match { expected answer }\nscore contains { expected answer }",
        "score contains { expected answer }\nscore exact_match { expected answer }",
    ),
    (
        "runtime block",
        "reduce majority_vote",
        "runtime { concurrency 3  retries 1 }\nreduce majority_vote",
    ),
]


def run_id(text: str, path: str = "spec.evalspec", **settings: object) -> str:
    return compile_text(text, path, settings=settings).run_id


@pytest.mark.parametrize(("label", "old", "new"), IDENTITY_EDITS)
def test_identity_field_change_changes_run_id(label: str, old: str, new: str) -> None:
    """Each identity field, edited alone, gives a different run_id."""
    assert old in BASE, label
    assert run_id(BASE.replace(old, new, 1)) != run_id(BASE)


@pytest.mark.parametrize(("label", "old", "new"), NEUTRAL_EDITS)
def test_meaningless_edit_keeps_run_id(label: str, old: str, new: str) -> None:
    """Formatting, comments, names and block order never change run_id."""
    assert old in BASE, label
    assert run_id(BASE.replace(old, new, 1)) == run_id(BASE)


def test_renaming_model_and_prompt_everywhere_keeps_run_id() -> None:
    """Names carry no meaning: renaming a model and a prompt keeps run_id."""
    renamed = BASE.replace("solver", "answerer").replace("ask", "query")

    assert run_id(renamed) == run_id(BASE)


def test_subject_order_in_matrix_keeps_run_id() -> None:
    """The order of models in a matrix carries no meaning."""
    two = BASE.replace("model solver  prompt", "model [solver, grader]  prompt")
    swapped = BASE.replace("model solver  prompt", "model [grader, solver]  prompt")

    assert run_id(two) == run_id(swapped) != run_id(BASE)


def test_spec_path_store_and_concurrency_keep_run_id() -> None:
    """Where the spec lives and how a run is carried out never change run_id."""
    reference = run_id(BASE)

    assert run_id(BASE, "elsewhere/other.evalspec") == reference
    assert run_id(BASE, store="runs/a.db", concurrency=2) == reference
    assert run_id(BASE, store="memory", concurrency=64, rate=10.0) == reference


def test_component_version_changes_run_id(monkeypatch: pytest.MonkeyPatch) -> None:
    """A new version of a component is a new identity."""
    before = run_id(BASE)
    monkeypatch.setattr(NoisyOracle, "version", "2")

    assert run_id(BASE) != before


OPENAI = """\
dataset qa { case c1 { question "2+2"  answer "4" } }
model m {
  use openai
  name "gpt-x"
  base_url "http://127.0.0.1:9/v1"
  api_key env("IDENT_KEY")
  timeout 5
}
prompt p "{{ question }}"
generate { model m  prompt p }
score exact_match { expected answer }
"""


def test_environment_values_and_timeouts_keep_run_id(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """An env variable's value and an endpoint's timeout never change run_id."""
    monkeypatch.setenv("IDENT_KEY", "first-secret")
    first = compile_text(OPENAI, "spec.evalspec")
    monkeypatch.setenv("IDENT_KEY", "second-secret")
    second = compile_text(OPENAI, "spec.evalspec")
    slower = compile_text(OPENAI.replace("timeout 5", "timeout 50"), "spec.evalspec")

    assert first.run_id == second.run_id == slower.run_id
    assert "IDENT_KEY" in first.snapshot.provenance["env"]
    assert "first-secret" not in first.snapshot.to_json()


def test_openai_model_name_changes_run_id() -> None:
    """The model an endpoint serves is part of the identity."""
    base = compile_text(OPENAI, "spec.evalspec").run_id

    assert compile_text(OPENAI.replace("gpt-x", "gpt-y"), "s").run_id != base


PYTHON_SPEC = """\
dataset qa { case c1 { question "2+2"  answer "4" } }
model m { use echo }
prompt p "{{ question }}"
generate { model m  prompt p }
parse python "ident_parsers:pick"
score exact_match { expected answer }
"""


def test_python_component_source_changes_run_id(tmp_path: Path) -> None:
    """Editing a Python component's source changes run_id; moving it does not."""
    module = tmp_path / "ident_parsers.py"
    spec = tmp_path / "spec.evalspec"
    spec.write_text(PYTHON_SPEC)
    module.write_text("def pick(text):\n    return text.strip()\n")
    first = compile_text(PYTHON_SPEC, str(spec))
    module.write_text(
        "# A comment above.\n\ndef pick(text):\n    return text.strip()\n"
    )
    _forget_module("ident_parsers")
    moved = compile_text(PYTHON_SPEC, str(spec))
    module.write_text("def pick(text):\n    return text.strip().lower()\n")
    _forget_module("ident_parsers")
    edited = compile_text(PYTHON_SPEC, str(spec))

    assert first.snapshot.identity["parse"]["params"]["fingerprint"]
    assert moved.run_id == first.run_id
    assert edited.run_id != first.run_id


def _forget_module(name: str) -> None:
    import importlib
    import sys

    sys.modules.pop(name, None)
    importlib.invalidate_caches()


def test_file_dataset_identity_is_content_not_path(tmp_path: Path) -> None:
    """A dataset file's identity is its bytes: not its path, name or mtime."""
    records = [{"id": "a", "question": "2+2", "answer": "4"}]
    text = "".join(json.dumps(r) + "\n" for r in records)
    for name in ("one.jsonl", "two.jsonl"):
        (tmp_path / name).write_text(text)
    spec = PYTHON_SPEC.replace('parse python "ident_parsers:pick"\n', "")
    spec = spec.replace('{ case c1 { question "2+2"  answer "4" } }', '{ from "X" }')
    path = str(tmp_path / "spec.evalspec")
    one = compile_text(spec.replace("X", "one.jsonl"), path).run_id
    two = compile_text(spec.replace("X", "two.jsonl"), path).run_id
    (tmp_path / "two.jsonl").write_text(text.replace('"4"', '"5"'))
    changed = compile_text(spec.replace("X", "two.jsonl"), path).run_id

    assert one == two != changed


def test_run_id_is_hash_of_canonical_identity_alone() -> None:
    """run_id is the first 16 hex digits of sha256(canonical JSON of identity)."""
    snapshot = compile_text(BASE, "spec.evalspec").snapshot
    text = canonical_json(snapshot.identity).encode("utf-8")

    assert snapshot.run_id == hashlib.sha256(text).hexdigest()[:16]
    assert snapshot.run_id == run_id_of(snapshot.identity)
    assert canonical_json({"b": 1.0, "a": [1, 2]}) == '{"a":[1,2],"b":1.0}'


def test_snapshot_json_round_trips_to_same_run_id() -> None:
    """A snapshot written as JSON reads back with the same identity."""
    snapshot = compile_text(BASE, "spec.evalspec").snapshot
    loaded = json.loads(snapshot.to_json())

    assert run_id_of(loaded["identity"]) == snapshot.run_id


def test_provenance_records_versions_names_and_settings() -> None:
    """Provenance holds versions, spec path, names and runtime/storage settings."""
    text = BASE.replace("reduce", "runtime { concurrency 3 }\nreduce", 1)
    compiled = compile_text(text, "specs/x.evalspec", settings={"store": "s.db"})
    snapshot = compiled.snapshot
    provenance = snapshot.provenance

    assert provenance["spec"]["path"] == "specs/x.evalspec"
    assert provenance["dependencies"]["pydantic"]
    assert provenance["python"] and provenance["evalspec"]
    assert provenance["runtime"]["concurrency"] == 3
    assert provenance["storage"] == {"store": "s.db"}
    assert provenance["names"]["judges"] == ["correct"]
    assert "concurrency" not in json.dumps(snapshot.identity)


def test_simulated_latency_is_not_identity(tmp_path: Path) -> None:
    """A builtin model's `delay` shapes timing only: run_id stays the same."""
    spec = tmp_path / "latency.evalspec"
    text = (
        'dataset d {{ case c1 {{ input "a"  expected "a" }} }}\n'
        "model m {{ use echo{delay} }}\n"
        'prompt p "{{{{ input }}}}"\n'
        "generate {{ model m  prompt p }}\n"
        "score exact_match\n"
    )
    spec.write_text(text.format(delay=""))
    plain = compile_file(spec).run_id
    spec.write_text(text.format(delay="  delay 0.5"))

    assert compile_file(spec).run_id == plain
