"""RunSnapshot: what a run *is* (identity) and where it came from (provenance).

`run_id` hashes the canonical JSON of `identity` and nothing else, so
formatting, comments, block order, names, store paths, runtime settings and
the values of environment variables never change it.

A component enters the identity as its runtime `describe()`: the same id,
version and parameters that the runtime hashes into its stage keys. Two
specs therefore share a `run_id` exactly when they would share every stored
artifact; parameters a component declares operational (an endpoint's
timeout, the name of the variable holding its key) stay out of both.
"""

from __future__ import annotations

import hashlib
import json
import platform
import sys
from collections.abc import Iterable, Mapping
from importlib.metadata import PackageNotFoundError, version
from typing import Any

from pydantic import BaseModel, ConfigDict

from evalspec._version import __version__
from evalspec.compiler import ir
from evalspec.compiler.lower import metric_name
from evalspec.runtime import registry
from evalspec.runtime.canonical import canonical_json, digest

__all__ = [
    "RunSnapshot",
    "component_identity",
    "identity_of",
    "make_snapshot",
    "provenance_of",
    "run_id_of",
]

#: The version of the identity's layout; a new layout gives new run_ids.
IDENTITY_FORMAT = 1

_DEPENDENCIES = ("lark", "jinja2", "pydantic", "anyio", "black", "numpy", "openai")
_RUN_ID_LENGTH = 16
_RUNTIME_SETTINGS = ("concurrency", "rate", "retries", "timeout")


class RunSnapshot(BaseModel):
    """A compiled experiment, frozen: its identity, provenance and run_id."""

    model_config = ConfigDict(frozen=True)

    run_id: str
    """The first 16 hex digits of the sha256 of the canonical identity JSON."""
    identity: dict[str, Any]
    """Everything that changes results."""
    provenance: dict[str, Any]
    """Where and how the snapshot was made; never part of `run_id`."""

    def to_json(self) -> str:
        """Return the snapshot as indented JSON with sorted keys."""
        data = self.model_dump(mode="json")

        return json.dumps(data, indent=2, sort_keys=True) + "\n"


def component_identity(node: ir.ComponentNode) -> dict[str, Any]:
    """Return the identity of a component: its runtime `describe()`.

    The registry's class is built from the validated parameters; building a
    component only validates them, it imports and calls nothing of the
    user's (a Python reference is imported on first use).
    """
    cls = registry.get(node.kind, node.id)
    described: dict[str, Any] = cls(**node.params).describe()

    return json.loads(canonical_json(described))


def identity_of(program: ir.Program) -> dict[str, Any]:
    """Return the identity of `program`: every field that changes results."""
    return {
        "format": IDENTITY_FORMAT,
        "seed": program.experiment.seed,
        "datasets": _canonical_order(_dataset_identity(d) for d in program.datasets),
        "subjects": _canonical_order(
            _subject_identity(program, s) for s in program.generate.subjects
        ),
        "samples": program.generate.samples,
        "reduce": component_identity(program.reduce),
        "parse": component_identity(program.parse),
        "scores": _canonical_order(component_identity(s) for s in program.scores),
        "judges": _canonical_order(_judge_identity(program, j) for j in program.judges),
    }


def _dataset_identity(dataset: ir.DatasetNode) -> dict[str, Any]:
    """Return what of a dataset selects its cases: content, ids and selection."""
    return {
        "fingerprint": dataset.fingerprint,
        "id_field": dataset.id_field,
        "rename": dataset.rename,
        "limit": dataset.limit,
        "sample": dataset.sample,
        "sample_seed": dataset.sample_seed if dataset.sample is not None else None,
    }


def _subject_identity(program: ir.Program, subject: ir.SubjectNode) -> dict[str, Any]:
    """Return a subject's identity: its model's and its prompt's, not its name."""
    prompt = program.prompt(subject.prompt)

    return {
        "model": component_identity(program.model(subject.model).component),
        "prompt": [list(message) for message in prompt.messages],
    }


def _judge_identity(program: ir.Program, judge: ir.JudgeNode) -> dict[str, Any]:
    """Return a judge's identity: its component's and its model's, not its name."""
    return {
        "judge": component_identity(judge.component),
        "model": component_identity(program.model(judge.model).component),
    }


def _canonical_order(items: Iterable[Any]) -> list[Any]:
    """Return `items` in canonical order, so spec order carries no meaning."""
    return sorted(items, key=digest)


def provenance_of(
    program: ir.Program, settings: Mapping[str, Any] | None = None
) -> dict[str, Any]:
    """Return the provenance of `program`: versions, paths, names, settings.

    `settings` are how this run is carried out: ``store`` (a SQLite path or
    ``memory``) goes under ``storage``; ``concurrency``, ``rate``,
    ``retries`` and ``timeout`` override the spec's `runtime` block; any
    other entry is kept under ``settings``.
    """
    settings = dict(settings or {})
    runtime = program.runtime.model_dump()
    for key in _RUNTIME_SETTINGS:
        if settings.get(key) is not None:
            runtime[key] = settings[key]
        settings.pop(key, None)
    storage = {"store": settings.pop("store", None)}

    return {
        "evalspec": __version__,
        "python": platform.python_version(),
        "implementation": sys.implementation.name,
        "platform": platform.platform(terse=True),
        "dependencies": {name: _version(name) for name in _DEPENDENCIES},
        "spec": {
            "path": program.spec_path,
            "sha256": program.spec_sha256,
            "includes": list(program.includes),
        },
        "experiment": {
            "name": program.experiment.name,
            "description": program.experiment.description,
            "tags": list(program.experiment.tags),
        },
        "names": {
            "datasets": [d.name for d in program.datasets],
            "subjects": [s.name for s in program.generate.subjects],
            "metrics": [metric_name(s) for s in program.scores],
            "judges": [j.name for j in program.judges],
        },
        "labels": _labels(program),
        "env": list(program.env_names),
        "runtime": runtime,
        "storage": storage,
        "settings": settings,
    }


def _labels(program: ir.Program) -> dict[str, dict[str, str]]:
    """Return, per identity list, the spec's name of each item by its digest.

    Identity lists hold no names; these labels let a diff of two snapshots
    name the dataset, subject, metric or judge an item came from.
    """
    return {
        "datasets": {digest(_dataset_identity(d)): d.name for d in program.datasets},
        "subjects": {
            digest(_subject_identity(program, s)): s.name
            for s in program.generate.subjects
        },
        "scores": {
            digest(component_identity(s)): metric_name(s) for s in program.scores
        },
        "judges": {digest(_judge_identity(program, j)): j.name for j in program.judges},
    }


def make_snapshot(
    program: ir.Program, settings: Mapping[str, Any] | None = None
) -> RunSnapshot:
    """Return the RunSnapshot of `program` carried out with `settings`."""
    identity = identity_of(program)

    return RunSnapshot(
        run_id=run_id_of(identity),
        identity=identity,
        provenance=provenance_of(program, settings),
    )


def run_id_of(identity: Mapping[str, Any]) -> str:
    """Return the run_id of `identity`: its canonical JSON's sha256, shortened."""
    text = canonical_json(identity).encode("utf-8", "surrogatepass")

    return hashlib.sha256(text).hexdigest()[:_RUN_ID_LENGTH]


def _version(name: str) -> str | None:
    try:
        return version(name)
    except PackageNotFoundError:
        return None
