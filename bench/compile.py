"""Measure compile time against the number of cases, inline and from JSONL.

Compiling covers the whole `evalspec compile`: parsing, lowering (which
reads and fingerprints the data), the snapshot, and emitting and writing the
runner. For each size it prints seconds and microseconds per case, then the
growth ratio: time per case at the largest size over time per case at the
smallest. A ratio at or below 1 means compile grows no faster than linearly.

Run it with `python bench/compile.py`; `--inline-max 100000` adds the
largest inline spec, which takes about a minute.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

from evalspec.compiler import compile_file

_SPEC = """\
experiment bench {{ seed 1 }}

dataset qa {{
{dataset}
}}

model m {{ use noisy_oracle  error_rate 0.1 }}
prompt p "Question: {{{{ question }}}}"
generate {{ model m  prompt p  samples 3 }}
reduce majority_vote
parse last_number
score exact_match {{ expected answer }}
"""


def write_spec(root: Path, cases: int, inline: bool) -> Path:
    """Write a spec with `cases` cases, inline or in a JSONL file; return it."""
    if inline:
        lines = (
            f'  case c{i} {{ question "what is {i} + 1"  answer "{i + 1}" }}'
            for i in range(cases)
        )
        dataset = "\n".join(lines)
    else:
        records = (
            {"id": f"c{i}", "question": f"what is {i} + 1", "answer": str(i + 1)}
            for i in range(cases)
        )
        data = root / f"qa-{cases}.jsonl"
        data.write_text("".join(json.dumps(r) + "\n" for r in records))
        dataset = f'  from "{data.name}"\n  id id'
    spec = root / f"bench-{'inline' if inline else 'jsonl'}-{cases}.evalspec"
    spec.write_text(_SPEC.format(dataset=dataset))

    return spec


def time_compile(spec: Path, out: Path) -> float:
    """Return the seconds to compile `spec` and write its runner into `out`."""
    started = time.perf_counter()
    compile_file(spec).write(out)

    return time.perf_counter() - started


def measure(root: Path, sizes: list[int], inline: bool) -> list[tuple[int, float]]:
    """Return (cases, seconds) for each size."""
    results = []
    for cases in sizes:
        spec = write_spec(root, cases, inline)
        seconds = time_compile(spec, root / f"out-{spec.stem}")
        results.append((cases, seconds))

    return results


def report(label: str, results: list[tuple[int, float]]) -> None:
    """Print one line per size, then the growth ratio."""
    for cases, seconds in results:
        per_case = 1e6 * seconds / cases
        print(f"{label:<7}{cases:>8} cases  {seconds:8.3f} s  {per_case:8.1f} us/case")
    (small, small_s), (large, large_s) = results[0], results[-1]
    ratio = (large_s / large) / (small_s / small)
    verdict = "linear or better" if ratio <= 1.0 else "SUPERLINEAR"
    print(f"{label:<7}growth ratio {large}/{small}: {ratio:.2f} ({verdict})")


def main() -> None:
    """Run the benchmark from the command line."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="100,10000,100000")
    parser.add_argument(
        "--inline-max", type=int, default=10_000, help="largest inline spec to time"
    )
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    with tempfile.TemporaryDirectory() as directory:
        root = Path(directory)
        # The first compile loads the grammar, black and the components.
        time_compile(write_spec(root, 10, inline=True), root / "warm")
        report("jsonl", measure(root, sizes, inline=False))
        report(
            "inline", measure(root, [n for n in sizes if n <= args.inline_max], True)
        )


if __name__ == "__main__":
    main()
