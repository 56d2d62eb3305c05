"""A whole run against a flaky OpenAI-compatible server: nothing is lost."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest
from chat_server import ChatServer

from evalspec import Experiment
from evalspec.runtime import SQLiteStore

CASES = 40


@pytest.fixture
def experiment(server: ChatServer, tmp_path: Path) -> Experiment:
    """Return an experiment whose model is the local server, at 30% faults."""
    server.fault_rate = 0.3
    server.slow_seconds = 0.6
    cases = "\n".join(f'  case c{n} {{ input "question {n}" }}' for n in range(CASES))
    spec = tmp_path / "flaky.evalspec"
    spec.write_text(textwrap.dedent("""\
            dataset questions {{
            {cases}
            }}
            model remote {{
              use openai
              name "local-model"
              base_url "{url}"
              temperature 0.0
            }}
            prompt ask "{{{{ input }}}}"
            generate {{ model remote  prompt ask }}
            score contains {{ expected input }}
            runtime {{ concurrency 8  retries 3  timeout 0.3 }}
            """).format(cases=cases, url=server.base_url))
    return Experiment.from_config(spec, store=SQLiteStore(tmp_path / "store.db"))


def test_flaky_server_run_accounts_for_every_request(
    experiment: Experiment, server: ChatServer
) -> None:
    """Every request the server saw is a success, a recorded retry or a failure."""
    result = experiment.run()
    generate = result.stages["generate"]

    assert result.status in ("completed", "partial")
    assert generate["executed"] + generate["failed"] == CASES
    assert generate["executed"] > CASES // 2
    rows = list(result.rows())
    assert len(rows) == CASES
    accounted = 0
    for row in rows:
        if row["errors"]:
            (error,) = row["errors"]
            assert error["stage"] == "generate"
            assert error["category"] in {
                "rate_limit",
                "server",
                "timeout",
                "malformed",
                "connection",
            }
    store = experiment.store
    for unit in experiment.pipeline().units():
        (key,) = unit.keys.generate
        (artifact,) = store.history(key)
        retries = (
            artifact.meta.get("retries", [])
            if artifact.status == "ok"
            else artifact.error["retries"]
        )
        assert all({"attempt", "delay", "reason"} <= set(r) for r in retries)
        accounted += len(retries) + 1
    assert accounted == server.requests
    assert server.behaviours["ok"] >= generate["executed"]
    (usage,) = result.usage
    assert usage["model"] == "remote" and usage["calls"] == generate["executed"]
    assert usage["prompt_tokens"] >= 2 * usage["calls"]
    assert usage["completion_tokens"] == 2 * usage["calls"]
    assert usage["mean_latency"] > 0


def test_flaky_server_second_run_retries_only_failures(
    experiment: Experiment, server: ChatServer
) -> None:
    """Run again: stored successes are reused and only failed items are retried."""
    first = experiment.run()
    server.fault_rate = 0.0
    before = server.requests

    second = experiment.run()

    failed = first.stages["generate"]["failed"]
    assert second.stages["generate"]["reused"] == CASES - failed
    assert second.stages["generate"]["executed"] == failed
    assert server.requests - before == failed
    assert second.status == "completed"
