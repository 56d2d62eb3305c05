"""The command line of an emitted runner: `python runner.py [--store S] [--json]`."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager, nullcontext
from pathlib import Path
from typing import TYPE_CHECKING, Any

from evalspec.errors import EvalSpecError
from evalspec.runtime.stages import STAGES
from evalspec.runtime.stores import Store, open_store

if TYPE_CHECKING:
    from evalspec.runtime.pipeline import Pipeline
    from evalspec.runtime.result import RunResult

__all__ = ["add_run_options", "main", "print_result", "run_pipeline"]

EXIT_INTERRUPTED = 130
DEFAULT_STORE = str(Path(".evalspec") / "store.db")


def add_run_options(parser: argparse.ArgumentParser) -> None:
    """Add the options every run-like command shares."""
    parser.add_argument(
        "--store",
        default=None,
        help="SQLite file to keep artifacts in, or `memory` "
        "(default: .evalspec/store.db under the current directory)",
    )
    parser.add_argument(
        "--json", action="store_true", help="print one JSON object on stdout"
    )
    parser.add_argument(
        "--concurrency",
        type=_positive(int),
        default=None,
        help="cases in flight at once",
    )
    parser.add_argument(
        "--rate",
        type=_positive(float),
        default=None,
        help="requests per minute per provider",
    )


def _positive(kind: type[int] | type[float]) -> Callable[[str], float]:
    """Return an argparse type accepting only positive numbers of `kind`."""

    def convert(text: str) -> float:
        try:
            value = kind(text)
        except ValueError:
            msg = f"expected a positive {kind.__name__}, not {text!r}"
            raise argparse.ArgumentTypeError(msg) from None
        if value <= 0:
            msg = f"must be positive, not {text}"
            raise argparse.ArgumentTypeError(msg)
        return value

    convert.__name__ = kind.__name__
    return convert


def main(pipeline: Pipeline, argv: Sequence[str] | None = None) -> int:
    """Run `pipeline` from the command line; return the exit status."""
    parser = argparse.ArgumentParser(
        prog=sys.argv[0] if argv is None else "runner",
        description=(
            f"Run experiment `{pipeline.experiment}` (run_id {pipeline.run_id})."
        ),
    )
    add_run_options(parser)
    parser.add_argument(
        "--stage",
        choices=STAGES[1:],
        default=None,
        help="replay from this stage: earlier stages load stored artifacts",
    )
    args = parser.parse_args(argv)
    if args.stage is not None:
        pipeline = pipeline.with_cutoff(args.stage)

    return run_pipeline(pipeline, args)


def run_pipeline(pipeline: Pipeline, args: argparse.Namespace) -> int:
    """Execute `pipeline` with parsed command-line `args`; print; return status."""
    runtime = pipeline.runtime.replace(concurrency=args.concurrency, rate=args.rate)
    try:
        store = open_store(args.store)
    except EvalSpecError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    try:
        with _progress(pipeline, not args.json) as progress:
            result = pipeline.run(store, runtime=runtime, progress=progress)
    except KeyboardInterrupt:
        print(_interrupted(pipeline, store), file=sys.stderr)
        return EXIT_INTERRUPTED
    except EvalSpecError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    finally:
        store.close()
    print_result(result, as_json=args.json)
    if not args.json and store.location != "memory":
        _print_next_steps(result.run_id, store.location)

    return 0 if result.status != "failed" else 1


def _print_next_steps(run_id: str, location: str) -> None:
    """Tell a person on stderr where the result is and how to look at it."""
    store = "" if location == DEFAULT_STORE else f" --store {location}"
    print(
        f"\nstored in {location}; to look at it:\n"
        f"  evalspec show {run_id} --case ID{store}\n"
        f"  evalspec report {run_id} --format html -o report.html{store}",
        file=sys.stderr,
    )


def print_result(result: RunResult, *, as_json: bool) -> None:
    """Print `result` as the JSON contract object or as a readable table."""
    if as_json:
        print(json.dumps(result.summary(), ensure_ascii=False))
        return
    from evalspec.reports import render

    print(render(result.summary(), "table"), end="")


def _interrupted(pipeline: Pipeline, store: Store) -> str:
    """Return the message for a run stopped by Ctrl-C: what is kept, how to go on."""
    runs = store.runs(pipeline.run_id)
    counts = runs[0].counts if runs else {}
    done = sum(c.get("executed", 0) + c.get("reused", 0) for c in counts.values())
    if store.location == "memory":
        return (
            f"\ninterrupted after {done} work items. The memory store keeps them "
            f"only in this process; pass `--store FILE` to keep finished work "
            f"across runs."
        )

    return (
        f"\ninterrupted after {done} work items; every finished item is stored "
        f"in {store.location}. Run the same command again to continue where it "
        f"stopped: stored work is reused, not repeated."
    )


def _progress(pipeline: Pipeline, wanted: bool) -> AbstractContextManager[Any]:
    """Return progress bars when both output streams are terminals, else nothing."""
    if not wanted or not (sys.stdout.isatty() and sys.stderr.isatty()):
        return nullcontext(None)
    from evalspec.runtime.progress import StageProgress

    return StageProgress(pipeline.totals())
