"""The `evalspec` command line: thin fronts over the compiler and runtime."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

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
    except KeyboardInterrupt:
        print("\ninterrupted", file=sys.stderr)
        return runner_cli.EXIT_INTERRUPTED


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="evalspec",
        description="Evaluate language models from .evalspec files.",
    )
    parser.add_argument("--version", action="version", version=f"evalspec {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")

    def command(name: str, handler: Callable[[argparse.Namespace], int], text: str) -> argparse.ArgumentParser:
        sub = commands.add_parser(name, help=text, description=text)
        sub.set_defaults(handler=handler)
        return sub

    check = command("check", _check, "Check a spec and print its diagnostics.")
    check.add_argument("spec")
    check.add_argument("--json", action="store_true", help="print diagnostics as JSON")

    compile_ = command("compile", _compile, "Compile a spec into a runner module and snapshot.")
    compile_.add_argument("spec")
    compile_.add_argument("-o", "--out", required=True, type=Path, help="output directory")
    compile_.add_argument("--stage", choices=STAGES[1:], help="emit the replay form from STAGE")

    run = command("run", _run, "Run a spec: execute every work item not already stored.")
    run.add_argument("spec")
    runner_cli.add_run_options(run)

    replay = command("replay", _replay, "Re-run STAGE and everything after it from stored artifacts.")
    replay.add_argument("spec")
    replay.add_argument("--stage", required=True, choices=STAGES[1:])
    runner_cli.add_run_options(replay)

    rejudge = command("rejudge", _rejudge, "Re-run the judge stage from stored artifacts.")
    rejudge.add_argument("spec")
    runner_cli.add_run_options(rejudge)

    plan = command("plan", _plan, "Show how many work items a run would execute and reuse.")
    plan.add_argument("spec")
    plan.add_argument("--store", default=None)
    plan.add_argument("--json", action="store_true")

    return parser


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
    compiled = compile_file(args.spec, settings={"store": args.store or ".evalspec/store.db"})
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


def _runner(compiled: Compiled, store: str | None, cutoff: str | None):  # type: ignore[no-untyped-def]
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
        print(f"{stage:<10}{counts['total']:>8}{counts['stored']:>8}{counts['execute']:>9}")
    for model, calls in plan.calls.items():
        print(f"model {model}: {calls['calls']} calls, ~{calls['prompt_tokens']} prompt tokens (characters / 4)")

    return 0


if __name__ == "__main__":
    raise SystemExit(main())
