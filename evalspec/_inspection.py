"""The commands that read stored runs: runs, show, report and compare."""

from __future__ import annotations

import argparse
import json
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from evalspec.api import comparisons_from_rows, find_run, load, run_subjects
from evalspec.compiler import compile_file
from evalspec.errors import UsageError
from evalspec.runtime import cli as runner_cli
from evalspec.runtime.stores import open_store

__all__ = ["compare", "report", "run_id_of", "runs", "show"]


def run_id_of(argument: str) -> str:
    """Return the run_id a command argument names: a spec's, or the argument."""
    if argument.endswith(".evalspec") or Path(argument).is_file():
        return compile_file(argument).run_id

    return argument


def runs(args: argparse.Namespace) -> int:
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


def show(args: argparse.Namespace) -> int:
    result = load(run_id_of(args.run), args.store)
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


def report(args: argparse.Namespace) -> int:
    from evalspec.reports import render

    result = load(run_id_of(args.run), args.store)
    data = {**result.summary(), "rows": list(result.rows())}
    text = render(data, args.format)
    if args.output is None:
        sys.stdout.write(text if text.endswith("\n") else text + "\n")
    else:
        args.output.write_text(text, encoding="utf-8")
        print(f"wrote {args.output}", file=sys.stderr)

    return 0


def compare(args: argparse.Namespace) -> int:
    result = load(run_id_of(args.run), args.store)
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
        names = f"{row['metric'][:15]:<16}{row['subject'][:21]:<22}"
        print(
            f"{names}{row['baseline'][:21]:<22}"
            f"{_num(row['diff']):>8}{ci:>20}{_num(row['p_value']):>8}{row['n']:>6}"
        )
    print("\nmethod: " + rows[0]["method"])

    return 0


def _num(value: float | None) -> str:
    return "-" if value is None else f"{value:+.3f}"
