"""RunSnapshot: what a run *is* (identity) and where it came from (provenance).

`run_id` hashes the canonical JSON of `identity` and nothing else, so
formatting, comments, block order, names, store paths and runtime settings
never change it.
"""

from __future__ import annotations

import hashlib
import json
import platform
import sys
from importlib.metadata import PackageNotFoundError, version
from typing import Any

from pydantic import BaseModel, ConfigDict

from evalspec._version import __version__
from evalspec.compiler import ir
from evalspec.compiler.lower import metric_name
from evalspec.runtime.canonical import canonical_json, digest

__all__ = ["RunSnapshot", "identity_of", "make_snapshot", "run_id_of"]

_DEPENDENCIES = ("lark", "jinja2", "pydantic", "anyio", "black", "numpy", "openai")
_RUN_ID_LENGTH = 16


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
        return json.dumps(self.model_dump(mode="json"), indent=2, sort_keys=True) + "\n"


def component_identity(node: ir.ComponentNode) -> dict[str, Any]:
    """Return the identity of a component: id, version and parameters."""
    return {"id": node.id, "version": node.version, "params": node.params}


def identity_of(program: ir.Program) -> dict[str, Any]:
    """Return the identity of `program`: every field that changes results."""
    subjects = []
    for subject in program.generate.subjects:
        subjects.append(
            {
                "model": component_identity(program.model(subject.model).component),
                "prompt": [list(m) for m in program.prompt(subject.prompt).messages],
            }
        )
    judges = [
        {
            "judge": component_identity(judge.component),
            "model": component_identity(program.model(judge.model).component),
        }
        for judge in program.judges
    ]

    return {
        "format": 1,
        "seed": program.experiment.seed,
        "datasets": _sorted(
            {
                "fingerprint": d.fingerprint,
                "id_field": d.id_field,
                "rename": d.rename,
                "limit": d.limit,
                "sample": d.sample,
                "sample_seed": d.sample_seed if d.sample is not None else None,
            }
            for d in program.datasets
        ),
        "subjects": _sorted(subjects),
        "samples": program.generate.samples,
        "reduce": component_identity(program.reduce),
        "parse": component_identity(program.parse),
        "scores": _sorted(component_identity(s) for s in program.scores),
        "judges": _sorted(judges),
    }


def _sorted(items: Any) -> list[Any]:
    """Return `items` in canonical order, so spec order carries no meaning."""
    return sorted(items, key=lambda item: digest(item))


def provenance_of(
    program: ir.Program, settings: dict[str, Any] | None = None
) -> dict[str, Any]:
    """Return the provenance of `program`: versions, paths, names, settings."""
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
        "env": list(program.env_names),
        "runtime": program.runtime.model_dump(),
        **(settings or {}),
    }


def make_snapshot(
    program: ir.Program, settings: dict[str, Any] | None = None
) -> RunSnapshot:
    """Return the RunSnapshot of `program`."""
    identity = identity_of(program)

    return RunSnapshot(
        run_id=run_id_of(identity),
        identity=identity,
        provenance=provenance_of(program, settings),
    )


def run_id_of(identity: dict[str, Any]) -> str:
    """Return the run_id of `identity`: its canonical JSON's sha256, shortened."""
    text = canonical_json(identity).encode("utf-8", "surrogatepass")

    return hashlib.sha256(text).hexdigest()[:_RUN_ID_LENGTH]


def _version(name: str) -> str | None:
    try:
        return version(name)
    except PackageNotFoundError:
        return None
