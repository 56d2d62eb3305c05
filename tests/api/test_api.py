"""The Python API: evaluate, Experiment's lifecycle, load, and event loops."""

from __future__ import annotations

import asyncio
import json
import shutil
from pathlib import Path

import pytest

import evalspec
from evalspec import EventLoopError, Experiment, MissingArtifactsError, evaluate

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def quickstart(tmp_path: Path) -> Path:
    """Return a copy of the quickstart spec with its data."""
    shutil.copytree(ROOT / "specs", tmp_path / "specs")
    return tmp_path / "specs" / "quickstart.evalspec"


def test_all_is_sorted_and_exported() -> None:
    """`evalspec.__all__` is sorted and names only what the package has."""
    assert list(evalspec.__all__) == sorted(evalspec.__all__)
    for name in evalspec.__all__:
        assert hasattr(evalspec, name), name


def test_evaluate_with_callable_works_as_written() -> None:
    """The README's smallest call scores a plain function against `expected`."""

    def model(prompt: str) -> str:
        return {"2+2": "4", "3+3": "7"}[prompt]

    result = evaluate(
        model=model,
        data=[{"input": "2+2", "expected": "4"}, {"input": "3+3", "expected": "6"}],
        metric="exact_match",
    )

    assert result.status == "completed"
    (row,) = result.metrics
    assert row["metric"] == "exact_match"
    assert row["mean"] == 0.5 and row["n"] == 2
    records = {r["case_id"]: r for r in result.to_records()}
    assert len(records) == 2


def test_evaluate_accepts_async_model_and_metric_callables() -> None:
    """An async model and a metric function both plug in; the metric is named."""

    async def shout(prompt: str) -> str:
        return prompt.upper()

    def same_length(parsed: str, case: dict) -> float:
        return float(len(parsed) == len(case["expected"]))

    result = evaluate(
        model=shout,
        data=[{"input": "ab", "expected": "AB"}],
        metric=[same_length, "exact_match"],
    )

    means = {row["metric"]: row["mean"] for row in result.metrics}
    assert means == {"same_length": 1.0, "exact_match": 1.0}


def test_evaluate_reads_a_jsonl_path(tmp_path: Path) -> None:
    """`data` may be a path to a JSONL file."""
    data = tmp_path / "cases.jsonl"
    data.write_text(
        '{"input": "x", "expected": "x"}\n{"input": "y", "expected": "z"}\n'
    )

    result = evaluate(model="echo", data=str(data), metric="exact_match")

    assert result.metrics[0]["mean"] == 0.5


@pytest.mark.anyio
async def test_evaluate_in_event_loop_names_async_twin() -> None:
    """evaluate() inside a running loop raises, naming evaluate_async."""
    with pytest.raises(EventLoopError, match="evaluate_async"):
        evaluate(model="echo", data=[{"input": "a", "expected": "a"}])

    result = await evalspec.evaluate_async(
        model="echo", data=[{"input": "a", "expected": "a"}]
    )
    assert result.metrics[0]["mean"] == 1.0


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("method", "twin"),
    [("run", "run_async"), ("replay", "replay_async"), ("rejudge", "rejudge_async")],
)
async def test_experiment_sync_forms_in_event_loop_name_twin(
    quickstart: Path, method: str, twin: str
) -> None:
    """Each synchronous Experiment method refuses a running loop, naming its twin."""
    experiment = Experiment.from_config(quickstart, store="memory")
    call = getattr(experiment, method)
    args = ("parse",) if method == "replay" else ()

    with pytest.raises(EventLoopError, match=twin):
        call(*args)


def test_compile_returns_snapshot_and_runs_nothing(quickstart: Path) -> None:
    """compile() gives the snapshot with run_id and stores no work."""
    experiment = Experiment.from_config(quickstart, store="memory")

    snapshot = experiment.compile()

    assert snapshot.run_id == experiment.run_id
    assert "identity" in snapshot.model_dump() and "provenance" in snapshot.model_dump()
    assert experiment.store.runs() == []


def test_from_config_accepts_spec_text(quickstart: Path) -> None:
    """Spec text compiles like a file when its dataset path is absolute."""
    data = quickstart.parent / "data" / "arithmetic.jsonl"
    text = quickstart.read_text().replace('"data/arithmetic.jsonl"', f'"{data}"')

    experiment = Experiment.from_config(text, store="memory")

    assert experiment.compile().run_id == Experiment.from_config(quickstart).run_id


def test_rejudge_on_same_memory_store_runs_only_judge(quickstart: Path) -> None:
    """After run(), rejudge() on the same experiment executes the judge alone."""
    experiment = Experiment.from_config(quickstart, store="memory")
    first = experiment.run()

    again = experiment.rejudge()

    assert again.stages["generate"]["executed"] == 0
    assert again.stages["generate"]["reused"] == 60
    assert again.stages["judge"]["executed"] == 20
    assert again.metrics == first.metrics


def test_replay_on_fresh_memory_store_says_why(quickstart: Path) -> None:
    """A replay on a memory store that never ran explains memory stores."""
    experiment = Experiment.from_config(quickstart, store="memory")

    with pytest.raises(MissingArtifactsError, match="memory store"):
        experiment.replay("parse")


def test_load_reopens_a_stored_result(quickstart: Path, tmp_path: Path) -> None:
    """evalspec.load(run_id, store=path) gives back metrics and rows."""
    store = tmp_path / "store.db"
    experiment = Experiment.from_config(quickstart, store=str(store))
    result = experiment.run()
    experiment.close()

    loaded = evalspec.load(result.run_id[:8], store=str(store))

    assert loaded.run_id == result.run_id
    assert loaded.metrics == result.metrics
    rows = list(loaded.rows())
    assert len(rows) == 20
    assert {"candidates", "parsed", "scores", "judgments"} <= set(rows[0])
    loaded.store.close()  # type: ignore[union-attr]


def test_to_json_and_records_carry_rows(quickstart: Path) -> None:
    """A result serialises with its per-case rows."""
    result = Experiment.from_config(quickstart, store="memory").run()

    text = result.to_json()

    assert '"rows"' in text and '"q01"' in text
    assert len(result.to_records()) == 20


def test_sync_run_from_thread_inside_loop_is_refused_only_in_loop() -> None:
    """Outside any loop the sync form works; asyncio.run of the twin works too."""
    result = asyncio.run(
        evalspec.evaluate_async(model="echo", data=[{"input": "a", "expected": "a"}])
    )

    assert result.status == "completed"


def test_overrides_change_samples_and_run_id(quickstart: Path) -> None:
    """A dotted override changes the field and therefore the run_id."""
    plain = Experiment.from_config(quickstart, store="memory")
    more = Experiment.from_config(quickstart, {"generate.samples": 5}, store="memory")

    assert more.run_id != plain.run_id
    assert more.compile().identity["samples"] == 5
    assert more.run().stages["generate"]["executed"] == 100


def test_override_of_unknown_field_suggests_the_close_one(quickstart: Path) -> None:
    """An override naming no field is a diagnostic with a suggestion."""
    with pytest.raises(evalspec.SpecError) as caught:
        Experiment.from_config(quickstart, {"generate.sample": 5})

    text = str(caught.value)
    assert "unknown `generate` field `sample`" in text
    assert "did you mean `samples`?" in text


def test_override_of_component_parameter_is_validated(quickstart: Path) -> None:
    """A component parameter override is checked against the schema."""
    with pytest.raises(evalspec.SpecError, match="error_rate"):
        Experiment.from_config(quickstart, {"model.solver.error_rate": "lots"})


def test_build_makes_a_matrix_and_names_live_objects_in_runner() -> None:
    """An experiment built in Python compiles to a runner like a spec's."""

    def upper(prompt: str) -> str:
        return prompt.upper()

    experiment = Experiment.build(
        model={"shouter": upper, "echoer": "echo"},
        data=[{"input": "a", "expected": "A"}, {"input": "B", "expected": "B"}],
        metric="exact_match",
    )

    assert "model shouter" in experiment.spec_text
    runner = experiment.runner_source()
    assert "process-local" in runner
    result = experiment.run()
    means = {row["subject"]: row["mean"] for row in result.metrics}
    assert means == {"shouter/input": 1.0, "echoer/input": 0.5}
    assert result.comparisons and result.comparisons[0]["baseline"] == "shouter/input"


def test_evaluate_accepts_a_component_object_and_dataset() -> None:
    """A component instance and a Dataset object plug into evaluate()."""
    from evalspec.runtime import datasets
    from evalspec.runtime.components.models import Constant

    data = datasets.inline("d", [{"input": "x", "expected": "yes"}])

    result = evaluate(model=Constant(text="yes"), data=data, metric="exact_match")

    assert result.metrics[0]["mean"] == 1.0


def test_to_pandas_gives_one_row_per_case() -> None:
    """to_pandas() returns a DataFrame of the flat records."""
    pytest.importorskip("pandas")
    result = evaluate(model="echo", data=[{"input": "a", "expected": "a"}])

    frame = result.to_pandas()

    assert list(frame["score.exact_match"]) == [1.0]


def test_evaluate_rejects_a_misspelled_option() -> None:
    """An option evaluate() does not know is an error, not silently ignored."""
    with pytest.raises(evalspec.UsageError, match="smaples"):
        evaluate(model="echo", data=[{"input": "a"}], smaples=3)  # type: ignore[call-arg]


def test_evaluate_leaves_no_temporary_files(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """evaluate() removes the spec, data and runner files it wrote."""
    monkeypatch.setenv("TMPDIR", str(tmp_path))
    import tempfile

    monkeypatch.setattr(tempfile, "tempdir", None)

    result = evaluate(model="echo", data=[{"input": "a", "expected": "a"}])

    assert result.metrics[0]["mean"] == 1.0
    assert list(result.rows())
    assert [p for p in tmp_path.iterdir() if p.name.startswith("evalspec-")] == []


def test_load_recomputes_comparisons_and_agreement(tmp_path: Path) -> None:
    """A reopened result has the same comparisons and judge agreement as the run."""
    spec = tmp_path / "two.evalspec"
    spec.write_text(
        'dataset d {\n  case a { input "1"  expected "1" }\n'
        '  case b { input "2"  expected "3" }\n}\n'
        'model echo { use echo }\nmodel fixed { use constant  text "1" }\n'
        "model grader { use reference_grader }\n"
        'prompt p "{{ input }}"\n'
        "generate { model [echo, fixed]  prompt p }\n"
        "score exact_match\n"
        'judge one { model grader  rubric "right?"  reference expected }\n'
        'judge two { model grader  rubric "right?"  reference expected\n'
        "  scale pass_fail }\n"
    )
    store = str(tmp_path / "s.db")
    experiment = Experiment.from_config(spec, store=store)
    result = experiment.run()
    experiment.close()

    loaded = evalspec.load(result.run_id, store=store)

    assert loaded.comparisons == result.comparisons
    assert loaded.agreement == result.agreement
    assert [row["judges"] for row in loaded.agreement] == [["one", "two"]] * 2
    loaded.store.close()  # type: ignore[union-attr]


def test_run_settings_shape_the_run_but_not_its_id(quickstart: Path) -> None:
    """concurrency, rate, retries and timeout apply to one run; run_id stays."""
    experiment = Experiment.from_config(quickstart, store="memory")

    result = experiment.run(concurrency=2, rate=60_000, retries=1, timeout=5.0)

    assert result.status == "completed"
    assert result.run_id == experiment.run_id
    with pytest.raises(evalspec.UsageError, match="concurency"):
        experiment.run(concurency=2)  # type: ignore[call-arg]


@pytest.mark.parametrize(
    ("overrides", "field", "value"),
    [
        ({"dataset.arithmetic.limit": 5}, "datasets", 5),
        ({"judge.correctness.rubric": "Strict?"}, "judges", "Strict?"),
        ({"score.exact_match.ignore_case": True}, "scores", True),
        ({"reduce.by": "text"}, "reduce", "text"),
        ({"runtime.concurrency": 3}, None, None),
    ],
)
def test_overrides_reach_each_part_of_a_spec(
    quickstart: Path, overrides: dict, field: str | None, value: object
) -> None:
    """Overrides of datasets, judges, metrics, reducers and runtime apply."""
    base = Experiment.from_config(quickstart)
    changed = Experiment.from_config(quickstart, overrides)
    identity = json.dumps(changed.compile().identity)

    if field is None:
        assert changed.run_id == base.run_id
        assert changed.compile().provenance["runtime"]["concurrency"] == 3
    else:
        assert changed.run_id != base.run_id
        assert json.dumps(value) in identity


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"dataset.numbers.limit": 5}, "known: `arithmetic`"),
        ({"judge.correctness.rubrik": "x"}, "did you mean `rubric`?"),
        ({"score.exact_mach.ignore_case": True}, "did you mean `exact_match`?"),
        ({"runtim.concurrency": 2}, "did you mean `runtime`?"),
        ({"judge.correctness.model": "nobody"}, "unknown model `nobody`"),
        ({"dataset.arithmetic": 5}, "reads `dataset.NAME.FIELD`"),
    ],
)
def test_bad_overrides_are_diagnostics(
    quickstart: Path, overrides: dict, message: str
) -> None:
    """A bad override names what is wrong and, when one is close, the fix."""
    with pytest.raises(evalspec.SpecError) as caught:
        Experiment.from_config(quickstart, overrides)

    assert message in str(caught.value)
