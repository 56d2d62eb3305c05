"""Progress bars on a terminal: one per stage, with executed, reused and failed."""

from __future__ import annotations

from collections.abc import Mapping
from types import TracebackType

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    ProgressColumn,
    Task,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.text import Text

from evalspec.runtime.stages import STAGES

__all__ = ["StageProgress"]


class _Rate(ProgressColumn):
    """Items finished per second, once there is enough to tell."""

    def render(self, task: Task) -> Text:
        speed = task.finished_speed or task.speed
        return Text("" if speed is None else f"{speed:,.1f}/s", style="cyan")


class StageProgress:
    """Show one progress bar per stage on stderr; call it once per work item.

    `totals` gives each stage's item count, so bars can show an ETA; a stage
    with no items (a spec without judges) gets no bar.
    """

    def __init__(self, totals: Mapping[str, int] | None = None) -> None:
        self._totals = dict(totals or {})
        self._progress = Progress(
            TextColumn("{task.description:<9}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[detail]}"),
            _Rate(),
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
            total = self._totals.get(stage)
            if total == 0:
                continue
            self._tasks[stage] = self._progress.add_task(stage, total=total, detail="")

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
        task = self._tasks.get(stage)
        if task is None:
            return
        detail = (
            f"executed {counts['executed']}  reused {counts['reused']}  "
            f"failed {counts['failed']}"
        )
        self._progress.update(task, advance=1, detail=detail)
