"""Progress bars on a terminal: one per stage, with executed, reused and failed."""

from __future__ import annotations

from types import TracebackType

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

from evalspec.runtime.stages import STAGES

__all__ = ["StageProgress"]


class StageProgress:
    """Show one progress line per stage on stderr; call it once per work item."""

    def __init__(self) -> None:
        self._progress = Progress(
            TextColumn("{task.description:<9}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[detail]}"),
            TimeElapsedColumn(),
            TimeRemainingColumn(),
            console=Console(stderr=True),
            transient=True,
        )
        self._tasks: dict[str, TaskID] = {}
        self._counts = {s: {"executed": 0, "reused": 0, "failed": 0} for s in STAGES}

    def __enter__(self) -> StageProgress:
        self._progress.__enter__()
        for stage in STAGES:
            self._tasks[stage] = self._progress.add_task(stage, total=None, detail="")
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self._progress.__exit__(kind, value, traceback)

    def __call__(self, stage: str, outcome: str) -> None:
        """Count one finished `stage` item with its `outcome`."""
        counts = self._counts[stage]
        counts[outcome] += 1
        detail = (
            f"executed {counts['executed']}  reused {counts['reused']}  "
            f"failed {counts['failed']}"
        )
        self._progress.update(self._tasks[stage], advance=1, detail=detail)
