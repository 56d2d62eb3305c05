"""The compiler: spec text → IR → RunSnapshot and runner module."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from evalspec.compiler import ir
from evalspec.compiler.codegen import (
    INLINE_RECORDS,
    RunnerFiles,
    emit_files,
    emit_runner,
    literal,
)
from evalspec.compiler.diff import (
    Difference,
    diff_snapshots,
    format_differences,
    load_snapshot,
)
from evalspec.compiler.lower import load_program
from evalspec.compiler.snapshot import RunSnapshot, make_snapshot
from evalspec.errors import SpecError
from evalspec.grammar.diagnostics import Diagnostic

__all__ = [
    "Compiled",
    "Difference",
    "INLINE_RECORDS",
    "RunSnapshot",
    "RunnerFiles",
    "compile_file",
    "compile_text",
    "diff_snapshots",
    "emit_files",
    "emit_runner",
    "format_differences",
    "ir",
    "literal",
    "load_snapshot",
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

    _emitted: dict[tuple[Path, str | None], RunnerFiles] = field(
        default_factory=dict, compare=False, repr=False
    )

    def files(self, out_dir: Path, cutoff: str | None = None) -> RunnerFiles:
        """Return the runner files for a runner living in `out_dir`, emitted once."""
        key = (Path(out_dir).resolve(), cutoff)
        if key not in self._emitted:
            self._emitted[key] = emit_files(
                self.program, self.snapshot, Path(out_dir), cutoff=cutoff
            )

        return self._emitted[key]

    def runner(self, out_dir: Path, cutoff: str | None = None) -> str:
        """Return the runner module's source for a runner living in `out_dir`."""
        return self.files(out_dir, cutoff).source

    def write(self, out_dir: Path, cutoff: str | None = None) -> Path:
        """Write the runner, its data files and its snapshot JSON; return the runner.

        Each file is written whole under a temporary name and then renamed,
        so a reader never sees half a runner.
        """
        out_dir = Path(out_dir)
        out_dir.mkdir(parents=True, exist_ok=True)
        files = self.files(out_dir, cutoff)
        for name, text in files.data.items():
            _write_atomic(out_dir / name, text)
        _write_atomic(out_dir / f"{self.name}.snapshot.json", self.snapshot.to_json())
        runner = out_dir / files.runner_name
        _write_atomic(runner, files.source)

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
            source_line=data.split(b"\n")[line - 1].decode("utf-8", "replace"),
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


def _write_atomic(path: Path, text: str) -> None:
    partial = path.with_name(path.name + ".partial")
    partial.write_text(text, encoding="utf-8", newline="\n")
    os.replace(partial, path)


def _file_error(name: str, message: str) -> Diagnostic:
    return Diagnostic(
        file=name, line=0, column=0, end_line=0, end_column=0, message=message
    )
