"""Emit the runner module: the executable form of a RunSnapshot.

The module is rendered from a jinja2 template, formatted with black and
checked with `compile()`. Every value from a spec or a dataset enters it as a
Python literal made by `literal()`, never as spliced source; the template
only places names the emitter made and code built from those literals.

An inline dataset of more than `INLINE_RECORDS` records is written beside
the runner as a JSONL data file and referenced by name and fingerprint, so a
runner stays readable (and quick to format) whatever the size of its data.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import re
import tempfile
from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import black
import jinja2

from evalspec._version import __version__
from evalspec.compiler import ir
from evalspec.compiler.lower import metric_name
from evalspec.compiler.snapshot import RunSnapshot
from evalspec.errors import InternalError, UsageError
from evalspec.runtime.live import is_live
from evalspec.runtime.stages import STAGES

__all__ = ["INLINE_RECORDS", "RunnerFiles", "emit_files", "emit_runner", "literal"]

#: The most records an inline dataset may have and still be inlined.
INLINE_RECORDS = 50

_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")
_FILE_FUNCTIONS = {"jsonl": "jsonl", "csv": "csv_file", "json": "json_file"}


def literal(value: Any) -> str:
    """Return Python source that evaluates to `value` (JSON-like data only)."""
    if isinstance(value, float):
        if math.isnan(value):
            return 'float("nan")'
        if math.isinf(value):
            return 'float("inf")' if value > 0 else 'float("-inf")'
        return repr(value)
    if value is None or isinstance(value, bool | int | str):
        return repr(value)
    if isinstance(value, list):
        return "[" + ", ".join(literal(v) for v in value) + "]"
    if isinstance(value, tuple):
        items = ", ".join(literal(v) for v in value)
        return f"({items},)" if len(value) == 1 else f"({items})"
    if isinstance(value, dict):
        items = ", ".join(f"{literal(k)}: {literal(v)}" for k, v in value.items())
        return "{" + items + "}"
    msg = f"cannot emit a {type(value).__name__} as a literal"
    raise InternalError(msg)


def _comment(text: str) -> str:
    """Return `text` safe to place inside a one-line comment."""
    return _CONTROL.sub(lambda m: repr(m.group())[1:-1], text)


@dataclass(frozen=True)
class RunnerFiles:
    """The files of an emitted runner: its module and the data files it reads."""

    runner_name: str
    """The runner module's file name, such as ``arithmetic.py``."""
    source: str
    """The runner module's source."""
    data: Mapping[str, str]
    """Data files by file name: inline datasets too large to inline, as JSONL."""


@cache
def _environment() -> jinja2.Environment:
    environment = jinja2.Environment(
        loader=jinja2.PackageLoader("evalspec.compiler", "templates"),
        autoescape=False,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
        undefined=jinja2.StrictUndefined,
    )
    environment.filters["literal"] = literal

    return environment


class _Names:
    """Hand out Python constant names, unique within one runner."""

    def __init__(self) -> None:
        self.taken: set[str] = set()

    def make(self, prefix: str, name: str) -> str:
        base = f"{prefix}_{name.upper()}"
        candidate, count = base, 1
        while candidate in self.taken:
            count += 1
            candidate = f"{base}_{count}"
        self.taken.add(candidate)

        return candidate


class _Emitter:
    """Turn a Program into the template's context of ready-made code pieces."""

    def __init__(self, program: ir.Program, out_dir: Path) -> None:
        self.program = program
        self.out_dir = out_dir
        self.imports: dict[str, set[str]] = defaultdict(set)
        self.runtime_names = {"Generate", "Pipeline", "Prompt", "Subject", "cli"}
        self.needs_spec_dir = False
        self.process_local: list[str] = []
        self.data: dict[str, str] = {}

    def component(self, node: ir.ComponentNode) -> str:
        """Return the expression that builds the component of `node`."""
        self.imports[node.module].add(node.qualname)
        if node.id == "python":
            self.needs_spec_dir = True
            ref = str(node.params.get("ref", ""))
            if is_live(ref) and ref not in self.process_local:
                self.process_local.append(ref)
        args = ", ".join(f"{k}={literal(v)}" for k, v in node.params.items())

        return f"{node.qualname}({args})"

    def dataset(self, node: ir.DatasetNode) -> str:
        """Return the expression that builds the dataset of `node`."""
        self.runtime_names.add("datasets")
        name = literal(node.name)
        if node.format == "inline" and len(node.records) <= INLINE_RECORDS:
            records = literal([dict(r) for r in node.records])
            return f"datasets.inline({name}, {records}{self._options(node, None)})"
        if node.format == "inline":
            filename = f"{self.program.experiment.name}.{node.name}.jsonl"
            text = "".join(json.dumps(dict(r)) + "\n" for r in node.records)
            self.data[filename] = text
            fingerprint = hashlib.sha256(text.encode("utf-8")).hexdigest()
            location = f"Path(__file__).with_name({literal(filename)})"
            return (
                f"datasets.jsonl({name}, {location}{self._options(node, fingerprint)})"
            )
        assert node.path is not None
        self.needs_spec_dir = True
        function = _FILE_FUNCTIONS[node.format]
        location = f"SPEC_DIR / {literal(node.path)}"

        return f"datasets.{function}({name}, {location}{self._options(node, None)})"

    def _options(self, node: ir.DatasetNode, fingerprint: str | None) -> str:
        options: dict[str, Any] = {"fingerprint": fingerprint or node.fingerprint}
        for key in ("id_field", "limit", "sample"):
            if getattr(node, key) is not None:
                options[key] = getattr(node, key)
        if node.sample is not None:
            options["sample_seed"] = node.sample_seed
        if node.rename:
            options["rename"] = node.rename

        return "".join(f", {k}={literal(v)}" for k, v in options.items())

    def context(
        self, snapshot: RunSnapshot, filename: str, cutoff: str | None
    ) -> dict[str, Any]:
        """Return the template's context for the runner file `filename`."""
        program = self.program
        names = _Names()
        used_models = {s.model for s in program.generate.subjects}
        used_models |= {j.model for j in program.judges}
        used_prompts = {s.prompt for s in program.generate.subjects}
        model_names = {
            m.name: names.make("MODEL", m.name)
            for m in program.models
            if m.name in used_models
        }
        prompt_names = {
            p.name: names.make("PROMPT", p.name)
            for p in program.prompts
            if p.name in used_prompts
        }
        context: dict[str, Any] = {
            "version": __version__,
            "spec_comment": _comment(self._spec_name()),
            "spec_name": self._spec_name(),
            "spec_sha256": program.spec_sha256,
            "experiment": program.experiment.name,
            "run_id": snapshot.run_id,
            "filename": filename,
            "cutoff": cutoff,
            "seed": program.experiment.seed,
            "datasets": [self._dataset_entry(d) for d in program.datasets],
            "models": [self._model_entry(m, model_names) for m in program.models],
            "prompts": [self._prompt_entry(p, prompt_names) for p in program.prompts],
            "generate": self._generate_entry(model_names, prompt_names),
            "reduce": self._stage_entry(program.reduce),
            "parse": self._stage_entry(program.parse),
            "scores": [self._metric_entry(s) for s in program.scores],
            "judges": [self._judge_entry(j, model_names) for j in program.judges],
            "runtime": self._runtime_code(),
            "snapshot_name": Path(filename).stem + ".snapshot.json",
        }
        context["models"] = [m for m in context["models"] if m is not None]
        context["prompts"] = [p for p in context["prompts"] if p is not None]
        context["process_local"] = list(self.process_local)
        context["spec_dir"] = self._spec_dir() if self.needs_spec_dir else None
        context["imports"] = self._imports()

        return context

    def _dataset_entry(self, node: ir.DatasetNode) -> dict[str, Any]:
        return {"name": node.name, "code": self.dataset(node), "line": node.span.line}

    def _model_entry(
        self, node: ir.ModelNode, names: Mapping[str, str]
    ) -> dict[str, Any] | None:
        if node.name not in names:
            return None
        code = self.component(node.component)

        return {
            "label": node.name,
            "name": names[node.name],
            "code": code,
            "line": node.component.span.line,
        }

    def _prompt_entry(
        self, node: ir.PromptNode, names: Mapping[str, str]
    ) -> dict[str, Any] | None:
        if node.name not in names:
            return None
        code = literal([list(m) for m in node.messages])

        return {
            "label": node.name,
            "name": names[node.name],
            "code": code,
            "line": node.span.line,
        }

    def _generate_entry(
        self, model_names: Mapping[str, str], prompt_names: Mapping[str, str]
    ) -> dict[str, Any]:
        generate = self.program.generate
        subjects = [
            {
                "name": literal(s.name),
                "model": model_names[s.model],
                "prompt": prompt_names[s.prompt],
            }
            for s in generate.subjects
        ]
        count, samples = len(subjects), generate.samples
        summary = (
            f"{count} subject{'s' if count != 1 else ''} x "
            f"{samples} sample{'s' if samples != 1 else ''} per case"
        )

        return {
            "line": generate.span.line,
            "summary": summary,
            "subjects": subjects,
            "samples": literal(samples),
        }

    def _stage_entry(self, node: ir.ComponentNode) -> dict[str, Any]:
        return {"code": self.component(node), "line": node.span.line}

    def _metric_entry(self, node: ir.ComponentNode) -> dict[str, Any]:
        entry = self._stage_entry(node)
        entry["label"] = _comment(metric_name(node))

        return entry

    def _judge_entry(
        self, node: ir.JudgeNode, model_names: Mapping[str, str]
    ) -> dict[str, Any]:
        self.runtime_names.add("JudgeStep")

        return {
            "label": node.name,
            "name": literal(node.name),
            "code": self.component(node.component),
            "model": model_names[node.model],
            "line": node.component.span.line,
        }

    def _runtime_code(self) -> str:
        runtime = self.program.runtime.model_dump(exclude_defaults=True)
        if runtime:
            self.runtime_names.add("Runtime")

        return ", ".join(f"{k}={literal(v)}" for k, v in runtime.items())

    def _spec_name(self) -> str:
        """Return the spec's path, relative to the runner when given absolute."""
        path = self.program.spec_path
        if not os.path.isabs(path):
            return Path(path).as_posix()
        relative = os.path.relpath(path, self.out_dir.resolve())

        return relative.replace(os.sep, "/")

    def _spec_dir(self) -> str:
        relative = os.path.relpath(self.program.spec_dir, self.out_dir.resolve())

        return relative.replace(os.sep, "/")

    def _imports(self) -> list[list[str]]:
        """Return the import lines, grouped as isort would: stdlib, then ours."""
        runtime = ", ".join(sorted(self.runtime_names, key=lambda n: (n.islower(), n)))
        ours = [f"from evalspec.runtime import {runtime}"]
        for module in sorted(self.imports):
            ours.append(
                f"from {module} import {', '.join(sorted(self.imports[module]))}"
            )

        return [["from pathlib import Path"], ours]


def emit_files(
    program: ir.Program,
    snapshot: RunSnapshot,
    out_dir: Path,
    *,
    cutoff: str | None = None,
) -> RunnerFiles:
    """Return the runner module of `program` and the data files it reads.

    `out_dir` is where the runner will live: the spec's directory is written
    relative to it, so the runner and the spec can move together.
    """
    if cutoff is not None and cutoff not in STAGES[1:]:
        msg = f"cutoff must be one of {', '.join(STAGES[1:])}, not {cutoff!r}."
        raise UsageError(msg)
    filename = f"{program.experiment.name}.py"
    emitter = _Emitter(program, out_dir)
    context = emitter.context(snapshot, filename, cutoff)
    raw = _environment().get_template("runner.py.jinja").render(context)
    try:
        source = black.format_str(raw, mode=black.Mode(line_length=88))
        compile(source, filename, "exec")
    except Exception as exc:  # black or compile() rejecting our output is our bug
        saved = _save_raw(raw, filename)
        msg = (
            f"evalspec emitted an invalid runner for {program.spec_path} "
            f"({type(exc).__name__}: {exc}); the raw source is saved at {saved}. "
            "Please report this as a bug."
        )
        raise InternalError(msg) from None

    return RunnerFiles(filename, source, dict(emitter.data))


def emit_runner(
    program: ir.Program,
    snapshot: RunSnapshot,
    out_dir: Path,
    *,
    cutoff: str | None = None,
) -> str:
    """Return the runner module's source for `program`, black-formatted."""
    return emit_files(program, snapshot, out_dir, cutoff=cutoff).source


def _save_raw(raw: str, filename: str) -> str:
    handle, path = tempfile.mkstemp(prefix="evalspec-", suffix="-" + filename)
    with os.fdopen(handle, "w", encoding="utf-8") as out:
        out.write(raw)

    return path
