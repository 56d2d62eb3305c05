"""The compiler: spec text → IR → RunSnapshot and runner module."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from evalspec.compiler import ir
from evalspec.compiler.codegen import emit_runner, literal
from evalspec.compiler.lower import load_program
from evalspec.compiler.snapshot import RunSnapshot, make_snapshot
from evalspec.errors import SpecError
from evalspec.grammar.diagnostics import Diagnostic

__all__ = [
    "Compiled",
    "RunSnapshot",
    "compile_file",
    "compile_text",
    "emit_runner",
    "ir",
    "literal",
    "read_spec",
]


@dataclass(frozen=True)
class Compiled:
    """A compiled spec: its IR and its snapshot."""

    program: ir.Program
    snapshot: RunSnapshot

    @property
    def run_id(self) -> str:
        """Return the snapshot's run_id."""
        return self.snapshot.run_id

    @property
    def name(self) -> str:
        """Return the experiment's name (the runner's file stem)."""
        return self.program.experiment.name

    def runner(self, out_dir: Path, cutoff: str | None = None) -> str:
        """Return the runner module's source for a runner living in `out_dir`."""
        return emit_runner(self.program, self.snapshot, out_dir, cutoff=cutoff)

    def write(self, out_dir: Path, cutoff: str | None = None) -> Path:
        """Write the runner and its snapshot JSON into `out_dir`; return the runner."""
        out_dir.mkdir(parents=True, exist_ok=True)
        runner = out_dir / f"{self.name}.py"
        runner.write_text(self.runner(out_dir, cutoff), encoding="utf-8")
        snapshot = out_dir / f"{self.name}.snapshot.json"
        snapshot.write_text(self.snapshot.to_json(), encoding="utf-8")

        return runner


def read_spec(path: str | os.PathLike[str]) -> str:
    """Return the text of the spec at `path`, or raise SpecError saying why not."""
    name = _display_path(path)
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        reason = (exc.strerror or str(exc)).lower()
        raise SpecError([_file_error(name, f"cannot read spec: {reason}")]) from None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        column = exc.start - (data.rfind(b"\n", 0, exc.start) + 1) + 1
        diagnostic = Diagnostic(
            file=name,
            line=line,
            column=column,
            end_line=line,
            end_column=column + 1,
            message="the spec is not valid UTF-8",
            help="save the file as UTF-8",
        )
        raise SpecError([diagnostic]) from None


def compile_file(
    path: str | os.PathLike[str],
    overrides: Mapping[str, Any] | None = None,
    settings: Mapping[str, Any] | None = None,
) -> Compiled:
    """Compile the spec file at `path`; raise SpecError with every diagnostic."""
    text = read_spec(path)

    return compile_text(text, _display_path(path), overrides, settings)


def compile_text(
    text: str,
    path: str = "<spec>",
    overrides: Mapping[str, Any] | None = None,
    settings: Mapping[str, Any] | None = None,
) -> Compiled:
    """Compile spec `text` reported under `path`."""
    program = load_program(text, path, overrides)

    return Compiled(program, make_snapshot(program, dict(settings or {})))


def _display_path(path: str | os.PathLike[str]) -> str:
    """Return `path` relative to the working directory when it is below it."""
    text = os.fspath(path)
    try:
        relative = os.path.relpath(text)
    except ValueError:
        return text

    return text if relative.startswith("..") else relative


def _file_error(name: str, message: str) -> Diagnostic:
    return Diagnostic(
        file=name, line=1, column=1, end_line=1, end_column=1, message=message
    )
