"""Write and load emitted runner modules: the one path every run takes."""

from __future__ import annotations

import hashlib
import importlib.util
import sys
import tempfile
from functools import cache
from pathlib import Path
from types import ModuleType

from evalspec.compiler import Compiled

__all__ = ["load_runner", "runner_dir", "write_runner"]


def runner_dir(compiled: Compiled, store: str | None, cutoff: str | None) -> Path:
    """Return where the runner of `compiled` lives for a run against `store`."""
    name = compiled.run_id + (f"-from-{cutoff}" if cutoff else "")
    if store == "memory":
        return _scratch() / name
    base = Path(store).parent if store else Path(".evalspec")

    return base / "runners" / name


@cache
def _scratch() -> Path:
    return Path(tempfile.mkdtemp(prefix="evalspec-runners-"))


def write_runner(compiled: Compiled, directory: Path, cutoff: str | None) -> Path:
    """Write the runner, its snapshot and data files into `directory`."""
    return compiled.write(directory, cutoff)


def load_runner(path: Path) -> ModuleType:
    """Import the runner module at `path` under a unique name; run nothing."""
    digest = hashlib.sha256(str(path.resolve()).encode()).hexdigest()[:12]
    name = f"evalspec_runner_{path.stem}_{digest}"
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)

    return module
