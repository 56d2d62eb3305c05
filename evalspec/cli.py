"""The `evalspec` command line: thin fronts over the compiler and runtime."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from evalspec._runners import load_runner, runner_dir, write_runner
from evalspec._version import __version__
from evalspec.api import comparisons_from_rows, find_run, load, run_subjects
from evalspec.compiler import Compiled, compile_file
from evalspec.errors import EvalSpecError, SpecError, UsageError
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


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="evalspec",
        description="Evaluate language models from .evalspec files.",
    )
    parser.add_argument(
        "--version", action="version", version=f"evalspec {__version__}"
    )
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")

    def command(
        name: str, handler: Callable[[argparse.Namespace], int], text: str
    ) -> argparse.ArgumentParser:
        sub = commands.add_parser(name, help=text, description=text)
        sub.set_defaults(handler=handler)
        return sub

    check = command("check", _check, "Check a spec and print its diagnostics.")
    check.add_argument("spec")
    check.add_argument("--json", action="store_true", help="print diagnostics as JSON")

    compile_ = command(
        "compile", _compile, "Compile a spec into a runner module and snapshot."
    )
    compile_.add_argument("spec")
    compile_.add_argument(
        "-o", "--out", required=True, type=Path, help="output directory"
    )
    compile_.add_argument(
        "--stage", choices=STAGES[1:], help="emit the replay form from STAGE"
    )

    run = command(
        "run", _run, "Run a spec: execute every work item not already stored."
    )
    run.add_argument("spec")
    runner_cli.add_run_options(run)

    replay = command(
        "replay", _replay, "Re-run STAGE and everything after it from stored artifacts."
    )
    replay.add_argument("spec")
    replay.add_argument("--stage", required=True, choices=STAGES[1:])
    runner_cli.add_run_options(replay)

    rejudge = command(
        "rejudge", _rejudge, "Re-run the judge stage from stored artifacts."
    )
    rejudge.add_argument("spec")
    runner_cli.add_run_options(rejudge)

    plan = command(
        "plan", _plan, "Show how many work items a run would execute and reuse."
    )
    plan.add_argument("spec")
    plan.add_argument("--store", default=None)
    plan.add_argument("--json", action="store_true")

    runs = command("runs", _runs, "List the runs stored in a store.")
    runs.add_argument("--store", default=None)
    runs.add_argument("--json", action="store_true")

    show = command(
        "show", _show, "Show a stored run, or one case's journey through it."
    )
    show.add_argument("run", help="a run_id (or a prefix of one) or a spec")
    show.add_argument("--case", default=None, help="the case id to follow")
    show.add_argument("--store", default=None)
    show.add_argument("--json", action="store_true")

    report = command("report", _report, "Render a stored result as a report.")
    report.add_argument("run", help="a run_id (or a prefix of one) or a spec")
    report.add_argument(
        "--format", default="table", choices=("table", "json", "csv", "md", "html")
    )
    report.add_argument("-o", "--output", type=Path, default=None)
    report.add_argument("--store", default=None)

    compare = command(
        "compare", _compare, "Compare subjects pairwise over shared cases."
    )
    compare.add_argument("run", help="a run_id (or a prefix of one) or a spec")
    compare.add_argument("--baseline", default=None, help="the subject to compare with")
    compare.add_argument("--store", default=None)
    compare.add_argument("--json", action="store_true")

    components = command("components", _components, "List the builtin components.")
    components.add_argument("--json", action="store_true")

    fmt = command("fmt", _fmt, "Rewrite specs in canonical form.")
    fmt.add_argument("spec", nargs="+")
    fmt.add_argument(
        "--check", action="store_true", help="change nothing; exit 1 with a diff"
    )

    diff = command(
        "diff", _diff, "Show the identity fields two specs or snapshots differ in."
    )
    diff.add_argument("a")
    diff.add_argument("b")
    diff.add_argument("--json", action="store_true")

    return parser


def _run_id(argument: str) -> str:
    """Return the run_id a command argument names: a spec's, or the argument."""
    if argument.endswith(".evalspec") or Path(argument).is_file():
        return compile_file(argument).run_id

    return argument


def _runs(args: argparse.Namespace) -> int:
    store = open_store(args.store)
    try:
        records = store.runs()
    finally:
        store.close()
    rows: list[dict[str, Any]] = []
    for record in records:
        headline = record.metrics[0] if record.metrics else None
        rows.append(
            {
                "run_id": record.run_id,
                "attempt": record.attempt,
                "experiment": record.experiment,
                "cutoff": record.cutoff,
                "status": record.status or "running",
                "started": _time(record.started),
                "duration": (
                    round(record.ended - record.started, 3) if record.ended else None
                ),
                "headline": (
                    f"{headline['metric']} {headline['mean']:.3f}"
                    if headline and headline.get("mean") is not None
                    else ""
                ),
            }
        )
    if args.json:
        print(json.dumps({"runs": rows}))
        return 0
    header = (
        f"{'run_id':<18}{'experiment':<20}{'status':<12}{'started':<21}"
        f"{'secs':>8}  headline"
    )
    print(header)
    for row in rows:
        kind = row["status"] + (f"@{row['cutoff']}" if row["cutoff"] else "")
        secs = f"{row['duration']:.2f}" if row["duration"] is not None else "-"
        print(
            f"{row['run_id']:<18}{row['experiment'][:19]:<20}{kind:<12}"
            f"{row['started']:<21}{secs:>8}  {row['headline']}"
        )

    return 0


def _time(stamp: float) -> str:
    return datetime.fromtimestamp(stamp, tz=UTC).strftime("%Y-%m-%d %H:%M:%S")


def _show(args: argparse.Namespace) -> int:
    result = load(_run_id(args.run), args.store)
    rows = list(result.rows())
    if args.case is None:
        if args.json:
            print(
                json.dumps({**result.summary(), "cases": [r["case_id"] for r in rows]})
            )
            return 0
        runner_cli.print_result(result, as_json=False)
        print(
            f"\n{len(rows)} rows; `evalspec show {result.run_id} --case ID` follows one"
        )
        return 0
    chosen = [r for r in rows if r["case_id"] == args.case]
    if not chosen:
        known = ", ".join(sorted({r["case_id"] for r in rows})[:10])
        msg = f"run {result.run_id} has no case `{args.case}` (cases: {known}, ...)."
        raise UsageError(msg)
    if args.json:
        print(json.dumps({"run_id": result.run_id, "case": args.case, "rows": chosen}))
        return 0
    for row in chosen:
        print(_journey(row))

    return 0


def _journey(row: dict[str, Any]) -> str:
    """Return one case's path through every stage as readable text."""
    lines = [f"case {row['case_id']} · subject {row['subject']}", "", "inputs:"]
    lines += [f"  {k}: {v!r}" for k, v in row["inputs"].items()]
    lines += ["", "generate · prompt:", _indent(row["prompt"])]
    for index, text in enumerate(row["candidates"]):
        lines += [f"generate · candidate {index}:", _indent(text)]
    lines += [f"reduce · {row['reduced']!r}"]
    parse = (
        row["parsed"] if row["parse_error"] is None else f"failed: {row['parse_error']}"
    )
    lines += [f"parse  · {parse!r}"]
    lines += [f"score  · {name} = {value}" for name, value in row["scores"].items()]
    for name, judgment in row["judgments"].items():
        lines += [
            f"judge  · {name}: verdict {judgment.get('verdict')!r}, "
            f"score {judgment.get('score')}",
            _indent(judgment.get("reasoning") or ""),
        ]
    lines += [
        f"error  · {e['stage']}: {e['category']}: {e['message']}" for e in row["errors"]
    ]

    return "\n".join(lines) + "\n"


def _indent(text: str) -> str:
    return "\n".join("    " + line for line in str(text).splitlines()) or "    (empty)"


def _report(args: argparse.Namespace) -> int:
    from evalspec.reports import render

    result = load(_run_id(args.run), args.store)
    data = {**result.summary(), "rows": list(result.rows())}
    text = render(data, args.format)
    if args.output is None:
        sys.stdout.write(text if text.endswith("\n") else text + "\n")
    else:
        args.output.write_text(text, encoding="utf-8")
        print(f"wrote {args.output}", file=sys.stderr)

    return 0


def _compare(args: argparse.Namespace) -> int:
    result = load(_run_id(args.run), args.store)
    assert result.store is not None
    record = find_run(result.store, result.run_id)
    rows = comparisons_from_rows(result.rows(), args.baseline, run_subjects(record))
    if args.json:
        print(json.dumps({"run_id": result.run_id, "comparisons": rows}))
        return 0
    if not rows:
        print("nothing to compare: the run has a single subject")
        return 0
    print(
        f"{'metric':<16}{'subject':<22}{'baseline':<22}{'diff':>8}"
        f"{'95% CI':>20}{'p':>8}{'n':>6}"
    )
    for row in rows:
        ci = f"[{_num(row['ci_low'])}, {_num(row['ci_high'])}]"
        print(
            f"{row['metric'][:15]:<16}{row['subject'][:21]:<22}{row['baseline'][:21]:<22}"
            f"{_num(row['diff']):>8}{ci:>20}{_num(row['p_value']):>8}{row['n']:>6}"
        )
    print("\nmethod: " + rows[0]["method"])

    return 0


def _num(value: float | None) -> str:
    return "-" if value is None else f"{value:+.3f}"


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
        print(
            f"{stage:<10}{counts['total']:>8}{counts['stored']:>8}{counts['execute']:>9}"
        )
    for model, calls in plan.calls.items():
        tokens = calls["prompt_tokens"]
        estimate = f", ~{tokens} prompt tokens (characters / 4)" if tokens else ""
        label = model if model.startswith("judge ") else f"model {model}"
        print(f"{label}: {calls['calls']} calls{estimate}")

    return 0


if __name__ == "__main__":
    raise SystemExit(main())
