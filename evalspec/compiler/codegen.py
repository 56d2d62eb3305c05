"""Emit the runner module: the executable form of a RunSnapshot.

The module is rendered from a jinja2 template, formatted with black and
checked with `compile()`. Every value from a spec or a dataset enters it as a
Python literal made by `literal()`, never as spliced source.
"""

from __future__ import annotations

import math
import os
import re
import tempfile
from collections import defaultdict
from functools import cache
from pathlib import Path
from typing import Any

import black
import jinja2

from evalspec._version import __version__
from evalspec.compiler import ir
from evalspec.compiler.lower import metric_name
from evalspec.compiler.snapshot import RunSnapshot
from evalspec.errors import InternalError

__all__ = ["emit_runner", "literal"]

_RUNTIME_NAMES = ("Generate", "JudgeStep", "Pipeline", "Prompt", "Runtime", "Subject")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


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
    if isinstance(value, list | tuple):
        items = ", ".join(literal(v) for v in value)
        return f"[{items}]" if isinstance(value, list) else f"({items}{',' if len(value) == 1 else ''})"
    if isinstance(value, dict):
        items = ", ".join(f"{literal(k)}: {literal(v)}" for k, v in value.items())
        return "{" + items + "}"
    msg = f"cannot emit a {type(value).__name__} as a literal"
    raise InternalError(msg)


def _comment(text: str) -> str:
    """Return `text` safe to place inside a one-line comment."""
    return _CONTROL.sub(lambda m: repr(m.group())[1:-1], text)


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


class _Emitter:
    """Turn a Program into the template's context of ready-made code pieces."""

    def __init__(self, program: ir.Program, out_dir: Path) -> None:
        self.program = program
        self.out_dir = out_dir
        self.imports: dict[str, set[str]] = defaultdict(set)
        self.needs_path = True
        self.needs_spec_dir = False

    def component(self, node: ir.ComponentNode) -> str:
        self.imports[node.module].add(node.qualname)
        if node.id == "python":
            self.needs_spec_dir = True
        args = ", ".join(f"{k}={literal(v)}" for k, v in node.params.items())

        return f"{node.qualname}({args})"

    def dataset(self, node: ir.DatasetNode) -> str:
        options: dict[str, Any] = {"fingerprint": node.fingerprint}
        for key in ("id_field", "limit", "sample"):
            if getattr(node, key) is not None:
                options[key] = getattr(node, key)
        if node.sample is not None:
            options["sample_seed"] = node.sample_seed
        if node.rename:
            options["rename"] = node.rename
        extra = "".join(f", {k}={literal(v)}" for k, v in options.items())
        if node.format == "inline":
            records = literal([dict(r) for r in node.records])
            return f"datasets.inline({literal(node.name)}, {records}{extra})"
        self.needs_spec_dir = True
        function = {"jsonl": "jsonl", "csv": "csv_file", "json": "json_file"}[node.format]

        return f"datasets.{function}({literal(node.name)}, SPEC_DIR / {literal(node.path)}{extra})"

    def context(self, snapshot: RunSnapshot, filename: str, cutoff: str | None) -> dict[str, Any]:
        program = self.program
        model_names = {m.name: f"MODEL_{m.name.upper()}" for m in program.models}
        prompt_names = {p.name: f"PROMPT_{p.name.upper()}" for p in program.prompts}
        used_models = {s.model for s in program.generate.subjects} | {j.model for j in program.judges}
        used_prompts = {s.prompt for s in program.generate.subjects}
        datasets = [self.dataset(d) for d in program.datasets]
        models = [
            {"name": model_names[m.name], "code": self.component(m.component), "line": m.component.span.line}
            for m in program.models
            if m.name in used_models
        ]
        prompts = [
            {"name": prompt_names[p.name], "code": literal([list(m) for m in p.messages]), "line": p.span.line}
            for p in program.prompts
            if p.name in used_prompts
        ]
        generate = program.generate
        subjects = [
            {"name": s.name, "model": model_names[s.model], "prompt": prompt_names[s.prompt]}
            for s in generate.subjects
        ]
        count = len(subjects)
        summary = (
            f"{count} subject{'s' if count != 1 else ''} x "
            f"{generate.samples} sample{'s' if generate.samples != 1 else ''} per case"
        )
        runtime = program.runtime.model_dump(exclude_defaults=True)
        runtime_code = ", ".join(f"{k}={literal(v)}" for k, v in runtime.items())
        context = {
            "version": __version__,
            "spec_path": _comment(program.spec_path),
            "spec_sha256": program.spec_sha256[:16],
            "experiment": program.experiment.name,
            "run_id": snapshot.run_id,
            "filename": filename,
            "cutoff": cutoff,
            "process_local": [],
            "seed": program.experiment.seed,
            "datasets": datasets,
            "datasets_line": program.datasets[0].span.line,
            "models": models,
            "prompts": prompts,
            "generate": {"line": generate.span.line, "summary": summary, "subjects": subjects, "samples": generate.samples},
            "reduce": {"code": self.component(program.reduce), "line": program.reduce.span.line},
            "parse": {"code": self.component(program.parse), "line": program.parse.span.line},
            "scores": [{"code": self.component(s), "line": s.span.line, "name": metric_name(s)} for s in program.scores],
            "judges": [
                {"name": j.name, "code": self.component(j.component), "model": model_names[j.model], "line": j.component.span.line}
                for j in program.judges
            ],
            "runtime": runtime_code,
            "snapshot_name": Path(filename).stem + ".snapshot.json",
        }
        context["spec_dir"] = self._spec_dir() if self.needs_spec_dir else None
        context["imports"] = self._imports(bool(program.judges), bool(runtime_code))

        return context

    def _spec_dir(self) -> str:
        relative = os.path.relpath(self.program.spec_dir, self.out_dir.resolve())

        return relative.replace(os.sep, "/")

    def _imports(self, judges: bool, runtime: bool) -> list[str]:
        names = [n for n in _RUNTIME_NAMES if (n != "JudgeStep" or judges) and (n != "Runtime" or runtime)]
        lines = ["from pathlib import Path", ""]
        lines.append(f"from evalspec.runtime import {', '.join(names + ['cli', 'datasets'])}")
        for module in sorted(self.imports):
            lines.append(f"from {module} import {', '.join(sorted(self.imports[module]))}")

        return lines


def emit_runner(
    program: ir.Program,
    snapshot: RunSnapshot,
    out_dir: Path,
    *,
    cutoff: str | None = None,
) -> str:
    """Return the runner module's source for `program`, black-formatted.

    `out_dir` is where the runner will live: dataset paths in it are written
    relative to that directory, so the pair can move together.
    """
    filename = f"{program.experiment.name}.py"
    emitter = _Emitter(program, out_dir)
    context = emitter.context(snapshot, filename, cutoff)
    raw = _environment().get_template("runner.py.jinja").render(context)
    try:
        source = black.format_str(raw, mode=black.Mode())
        compile(source, filename, "exec")
    except Exception as exc:  # black or compile() rejecting our output is our bug
        saved = _save_raw(raw, filename)
        msg = (
            f"evalspec emitted an invalid runner for {program.spec_path} "
            f"({type(exc).__name__}: {exc}); the raw source is saved at {saved}. "
            "Please report this as a bug."
        )
        raise InternalError(msg) from None

    return source


def _save_raw(raw: str, filename: str) -> str:
    handle, path = tempfile.mkstemp(prefix="evalspec-", suffix="-" + filename)
    with os.fdopen(handle, "w", encoding="utf-8") as out:
        out.write(raw)

    return path
