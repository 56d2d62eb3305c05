"""The `evalspec` command line: thin fronts over the compiler and runtime."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from types import ModuleType

from evalspec import _inspection as inspection
from evalspec._runners import load_runner, runner_dir, write_runner
from evalspec._version import __version__
from evalspec.compiler import Compiled, compile_file
from evalspec.errors import EvalSpecError, SpecError
from evalspec.runtime import cli as runner_cli
from evalspec.runtime.stages import STAGES
from evalspec.runtime.stores import open_store

__all__ = ["main"]

EXIT_ERROR = 1
EXIT_USAGE = 2


def main(argv: Sequence[str] | None = None) -> int:
    """Run the `evalspec` command line; return the exit status."""
    parser = _parser()
    args = parser.parse_args(argv)
    if not getattr(args, "handler", None):
        parser.print_help(sys.stderr)
        return EXIT_USAGE
    try:
        status: int = args.handler(args)
        return status
    except SpecError as exc:
        if getattr(args, "json", False) and args.command == "check":
            print(json.dumps([d.to_json() for d in exc.diagnostics], indent=2))
        else:
            print(exc.render(color=sys.stderr.isatty()), file=sys.stderr)
        return EXIT_ERROR
    except EvalSpecError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_ERROR
    except OSError as exc:
        where = f" {exc.filename}" if exc.filename else ""
        reason = (exc.strerror or str(exc)).lower()
        print(f"error: cannot use{where}: {reason}", file=sys.stderr)
        return EXIT_ERROR
    except KeyboardInterrupt:
        print("\ninterrupted", file=sys.stderr)
        return runner_cli.EXIT_INTERRUPTED


Handler = Callable[[argparse.Namespace], int]
Command = Callable[[str, Handler, str], argparse.ArgumentParser]


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="evalspec",
        description="Evaluate language models from .evalspec files.",
    )
    parser.add_argument(
        "--version", action="version", version=f"evalspec {__version__}"
    )
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")

    def command(name: str, handler: Handler, text: str) -> argparse.ArgumentParser:
        sub = commands.add_parser(name, help=text, description=text)
        sub.set_defaults(handler=handler)
        return sub

    _spec_commands(command)
    _run_commands(command)
    _inspection_commands(command)

    return parser


def _spec_commands(command: Command) -> None:
    """Add the commands that read a spec and run nothing."""
    check = command("check", _check, "Check a spec and print its diagnostics.")
    check.add_argument("spec")
    check.add_argument("--json", action="store_true", help="print diagnostics as JSON")

    fmt = command("fmt", _fmt, "Rewrite specs in canonical form.")
    fmt.add_argument("spec", nargs="+")
    fmt.add_argument(
        "--check", action="store_true", help="change nothing; exit 1 with a diff"
    )

    text = "Compile a spec into a runner module and snapshot."
    compile_ = command("compile", _compile, text)
    compile_.add_argument("spec")
    compile_.add_argument(
        "-o", "--out", required=True, type=Path, help="output directory"
    )
    compile_.add_argument(
        "--stage", choices=STAGES[1:], help="emit the replay form from STAGE"
    )

    text = "Show the identity fields two specs or snapshots differ in."
    diff = command("diff", _diff, text)
    diff.add_argument("a")
    diff.add_argument("b")
    diff.add_argument("--json", action="store_true")

    components = command("components", _components, "List the builtin components.")
    components.add_argument("--json", action="store_true")


def _run_commands(command: Command) -> None:
    """Add the commands that execute work, and `plan`, which counts it."""
    text = "Show how many work items a run would execute and reuse."
    plan = command("plan", _plan, text)
    plan.add_argument("spec")
    plan.add_argument("--store", default=None)
    plan.add_argument("--json", action="store_true")

    text = "Run a spec: execute every work item not already stored."
    run = command("run", _run, text)
    run.add_argument("spec")
    runner_cli.add_run_options(run)

    text = "Re-run STAGE and everything after it from stored artifacts."
    replay = command("replay", _replay, text)
    replay.add_argument("spec")
    replay.add_argument("--stage", required=True, choices=STAGES[1:])
    runner_cli.add_run_options(replay)

    text = "Re-run the judge stage from stored artifacts."
    rejudge = command("rejudge", _rejudge, text)
    rejudge.add_argument("spec")
    runner_cli.add_run_options(rejudge)


def _inspection_commands(command: Command) -> None:
    """Add the commands that read stored runs."""
    runs = command("runs", inspection.runs, "List the runs stored in a store.")
    runs.add_argument("--store", default=None)
    runs.add_argument("--json", action="store_true")

    text = "Show a stored run, or one case's journey through it."
    show = command("show", inspection.show, text)
    show.add_argument("--case", default=None, help="the case id to follow")

    report = command("report", inspection.report, "Render a stored result.")
    report.add_argument(
        "--format", default="table", choices=("table", "json", "csv", "md", "html")
    )
    report.add_argument("-o", "--output", type=Path, default=None)

    text = "Compare subjects pairwise over shared cases."
    compare = command("compare", inspection.compare, text)
    compare.add_argument("--baseline", default=None, help="the subject to compare with")
    for sub in (show, report, compare):
        sub.add_argument("run", help="a run_id (or a prefix of one) or a spec")
        sub.add_argument("--store", default=None)
    for sub in (show, compare):
        sub.add_argument("--json", action="store_true")


def _components(args: argparse.Namespace) -> int:
    from evalspec.runtime.components import reference

    if args.json:
        print(json.dumps(reference.to_json(plugins=True)))
    else:
        sys.stdout.write(reference.render_markdown(plugins=True))

    return 0


def _fmt(args: argparse.Namespace) -> int:
    from evalspec.compiler import read_spec
    from evalspec.grammar.formatter import format_diff, format_spec

    unformatted = 0
    for spec in args.spec:
        text = read_spec(spec)
        formatted = format_spec(text, spec)
        if formatted == text:
            continue
        if args.check:
            unformatted += 1
            sys.stdout.write(format_diff(text, formatted, spec))
        else:
            Path(spec).write_text(formatted, encoding="utf-8")
            print(f"formatted {spec}", file=sys.stderr)

    return 1 if unformatted else 0


def _diff(args: argparse.Namespace) -> int:
    from evalspec.compiler.diff import diff_snapshots, format_differences, load_snapshot

    a, b = load_snapshot(args.a), load_snapshot(args.b)
    differences = diff_snapshots(a, b)
    if args.json:
        rows = [d.to_json() for d in differences]
        print(json.dumps({"a": a.run_id, "b": b.run_id, "differences": rows}))
        return 0
    sys.stdout.write(format_differences(differences))

    return 0


def _check(args: argparse.Namespace) -> int:
    compile_file(args.spec)
    if args.json:
        print("[]")

    return 0


def _compile(args: argparse.Namespace) -> int:
    compiled = compile_file(args.spec)
    compiled.write(args.out, args.stage)
    print(compiled.run_id)

    return 0


def _execute(args: argparse.Namespace, cutoff: str | None) -> int:
    settings = {
        "store": args.store or ".evalspec/store.db",
        "concurrency": args.concurrency,
        "rate": args.rate,
    }
    compiled = compile_file(args.spec, settings=settings)
    module = _runner(compiled, args.store, cutoff)
    argv = ["--store", args.store or str(Path(".evalspec") / "store.db")]
    if args.json:
        argv.append("--json")
    for option in ("concurrency", "rate"):
        value = getattr(args, option)
        if value is not None:
            argv += [f"--{option}", str(value)]
    if cutoff:
        argv += ["--stage", cutoff]
    status: int = module.main(argv)

    return status


def _runner(compiled: Compiled, store: str | None, cutoff: str | None) -> ModuleType:
    """Write the runner of `compiled` where runs against `store` keep it; load it."""
    path = write_runner(compiled, runner_dir(compiled, store, cutoff), cutoff)

    return load_runner(path)


def _run(args: argparse.Namespace) -> int:
    return _execute(args, None)


def _replay(args: argparse.Namespace) -> int:
    return _execute(args, args.stage)


def _rejudge(args: argparse.Namespace) -> int:
    return _execute(args, "judge")


def _plan(args: argparse.Namespace) -> int:
    compiled = compile_file(args.spec)
    module = _runner(compiled, args.store, None)
    store = open_store(args.store)
    try:
        plan = module.PIPELINE.plan(store)
    finally:
        store.close()
    if args.json:
        print(json.dumps(plan.to_json()))
        return 0
    print(f"plan for run {plan.run_id}")
    print(f"{'stage':<10}{'total':>8}{'stored':>8}{'execute':>9}")
    for stage, counts in plan.stages.items():
        total, stored, execute = counts["total"], counts["stored"], counts["execute"]
        print(f"{stage:<10}{total:>8}{stored:>8}{execute:>9}")
    for model, calls in plan.calls.items():
        tokens = calls["prompt_tokens"]
        estimate = f", ~{tokens} prompt tokens (characters / 4)" if tokens else ""
        label = model if model.startswith("judge ") else f"model {model}"
        print(f"{label}: {calls['calls']} calls{estimate}")

    return 0


if __name__ == "__main__":
    raise SystemExit(main())
