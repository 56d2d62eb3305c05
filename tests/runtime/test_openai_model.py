"""The `openai` model against a real chat-completions server on 127.0.0.1.

`ChatServer` speaks the protocol over HTTP from a thread and misbehaves on
request: by a schedule of named behaviours, then at a seeded rate. It counts
every request it receives, so the tests can check that no call is lost.
"""

from __future__ import annotations

import json
import random
from collections import Counter
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from typing import Any

import anyio
import anyio.lowlevel
import pytest
from chat_server import FAULT_CATEGORIES, ChatServer

from evalspec.errors import ComponentError, ProviderError
from evalspec.runtime.components.base import Message, Request
from evalspec.runtime.components.openai_model import OpenAIModel, parse_retry_after
from evalspec.runtime.retry import RetryPolicy, call_with_retries

SECRET = "sk-test-4f9a0c2e-do-not-leak"


@pytest.fixture(autouse=True)
def no_ambient_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)


def model_for(server: ChatServer, **params: Any) -> OpenAIModel:
    params = {"name": "test-model", "timeout": 0.3, **params}

    return OpenAIModel(base_url=server.base_url, **params)


def ask(text: str, sample: int = 0) -> Request:
    return Request(messages=(Message("user", text),), sample=sample)


async def failure(model: OpenAIModel, request: Request) -> ProviderError:
    with pytest.raises(ProviderError) as caught:
        await model.complete(request)

    return caught.value


@pytest.mark.anyio
async def test_complete_returns_text_usage_finish_reason_and_latency(
    server: ChatServer,
) -> None:
    """A normal answer carries everything the server reported, and the latency."""
    completion = await model_for(server).complete(ask("two plus two"))

    assert completion.text == "echo: two plus two"
    assert completion.finish_reason == "stop"
    assert completion.usage == {
        "prompt_tokens": 3,
        "completion_tokens": 2,
        "total_tokens": 5,
    }
    assert completion.model == "test-model"
    assert completion.latency is not None and completion.latency > 0
    assert server.bodies[0]["messages"] == [{"role": "user", "content": "two plus two"}]


@pytest.mark.anyio
async def test_complete_sends_set_sampling_parameters_only(server: ChatServer) -> None:
    """Unset parameters are left out; the seed is offset by the sample index."""
    model = model_for(
        server,
        temperature=0.7,
        max_tokens=16,
        stop=["\n"],
        seed=40,
        headers={"X-Team": "evals"},
    )
    await model.complete(ask("hi", sample=2))
    await model_for(server).complete(ask("hi"))

    sent, bare = server.bodies
    assert sent["temperature"] == 0.7
    assert sent["max_tokens"] == 16
    assert sent["stop"] == ["\n"]
    assert sent["seed"] == 42
    assert "top_p" not in sent
    assert server.headers_seen[0]["x-team"] == "evals"
    assert set(bare) == {"model", "messages"}


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("behaviour", "category", "retryable", "status"),
    [
        ("rate_limit", "rate_limit", True, 429),
        ("server", "server", True, 500),
        ("unavailable", "server", True, 503),
        ("slow", "timeout", True, None),
        ("drop", "connection", True, None),
        ("malformed", "malformed", True, None),
        ("no_choices", "malformed", True, None),
        ("plain_text", "malformed", True, None),
        ("unauthorized", "auth", False, 401),
        ("forbidden", "auth", False, 403),
        ("bad_request", "client", False, 400),
    ],
)
async def test_fault_maps_to_category(
    server: ChatServer,
    behaviour: str,
    category: str,
    retryable: bool,
    status: int | None,
) -> None:
    """Each way a call can fail becomes a ProviderError of its own category."""
    server.schedule.append(behaviour)
    error = await failure(model_for(server), ask("hi"))

    assert (error.category, error.retryable, error.status) == (
        category,
        retryable,
        status,
    )
    assert "127.0.0.1" in str(error)
    assert server.requests == 1, "the client must not retry on its own"


@pytest.mark.anyio
async def test_rate_limit_reads_retry_after_seconds_and_dates(
    server: ChatServer,
) -> None:
    """Retry-After is honoured whether given in seconds or as an HTTP date."""
    server.schedule.extend(["rate_limit", "rate_limit_date", "unavailable"])
    model = model_for(server)

    seconds = await failure(model, ask("hi"))
    date = await failure(model, ask("hi"))
    unavailable = await failure(model, ask("hi"))

    assert seconds.retry_after == 0.0
    assert date.retry_after is not None and 25 < date.retry_after <= 30
    assert unavailable.retry_after == 2.0


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ({"retry-after": "3"}, 3.0),
        ({"retry-after": "0.5"}, 0.5),
        ({"retry-after-ms": "250", "retry-after": "9"}, 0.25),
        ({"retry-after": "Wed, 21 Oct 2015 07:28:00 GMT"}, 0.0),
        ({"retry-after": "soon"}, None),
        ({"retry-after": "-1"}, None),
        ({}, None),
    ],
)
def test_parse_retry_after(headers: dict[str, str], expected: float | None) -> None:
    """Seconds, milliseconds and past dates are read; nonsense is ignored."""
    assert parse_retry_after(headers) == expected


def test_parse_retry_after_future_date() -> None:
    now = datetime(2030, 1, 1, 12, 0, 0, tzinfo=UTC)
    later = format_datetime(now + timedelta(seconds=90), usegmt=True)

    assert parse_retry_after({"retry-after": later}, now=now) == 90.0


@pytest.mark.anyio
async def test_api_key_is_sent_but_never_shown(
    server: ChatServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The key reaches the server as a bearer token and nowhere else."""
    monkeypatch.setenv("EVALSPEC_TEST_KEY", SECRET)
    model = model_for(server, api_key_env="EVALSPEC_TEST_KEY")
    server.schedule.extend(["ok", "unauthorized"])

    await model.complete(ask("hi"))
    error = await failure(model, ask("hi"))

    assert server.authorizations == [f"Bearer {SECRET}"] * 2
    assert "EVALSPEC_TEST_KEY" in repr(model)
    for shown in (repr(model), json.dumps(model.describe()), str(error)):
        assert SECRET not in shown
    assert SECRET not in json.dumps(error.to_json())
    assert "bad key Bearer ***" in str(error)


@pytest.mark.anyio
async def test_api_key_is_read_at_call_time(
    server: ChatServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A key rotated in the environment is used by the next call."""
    model = model_for(server, api_key_env="EVALSPEC_TEST_KEY")
    monkeypatch.setenv("EVALSPEC_TEST_KEY", "first")
    await model.complete(ask("hi"))
    monkeypatch.setenv("EVALSPEC_TEST_KEY", "second")
    await model.complete(ask("hi"))

    assert server.authorizations == ["Bearer first", "Bearer second"]


@pytest.mark.anyio
async def test_missing_api_key_variable_fails_before_sending(
    server: ChatServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("EVALSPEC_TEST_KEY", raising=False)
    error = await failure(model_for(server, api_key_env="EVALSPEC_TEST_KEY"), ask("hi"))

    assert (error.category, error.retryable) == ("auth", False)
    assert "EVALSPEC_TEST_KEY" in str(error)
    assert server.requests == 0


@pytest.mark.anyio
async def test_default_key_is_openai_api_key_else_placeholder(
    server: ChatServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    model = model_for(server)
    await model.complete(ask("hi"))
    monkeypatch.setenv("OPENAI_API_KEY", "sk-ambient")
    await model.complete(ask("hi"))

    assert server.authorizations == ["Bearer EMPTY", "Bearer sk-ambient"]


def test_provider_names_the_endpoint_host_and_port() -> None:
    local = OpenAIModel(name="m", base_url="http://user:pw@localhost:8000/v1")

    assert local.provider == "openai:localhost:8000"
    assert OpenAIModel(name="m").provider == "openai:api.openai.com"
    assert OpenAIModel(name="m", base_url="http://[::1]:9/v1").provider == (
        "openai:[::1]:9"
    )


def test_describe_leaves_out_how_the_endpoint_is_reached() -> None:
    """Timeout, delay and the key's variable do not change what a run means."""
    model = OpenAIModel(name="m", api_key_env="K", timeout=5, delay=1, seed=3)
    described = model.describe()

    assert described["id"] == "openai"
    assert described["params"]["name"] == "m"
    assert described["params"]["seed"] == 3
    assert not {"api_key_env", "timeout", "delay"} & set(described["params"])


@pytest.mark.parametrize("url", ["localhost:8000", "ftp://host/v1", "http://h:x/v1"])
def test_invalid_base_url_is_a_component_error(url: str) -> None:
    with pytest.raises(ComponentError, match="base_url"):
        OpenAIModel(name="m", base_url=url)


def test_model_survives_a_second_event_loop(server: ChatServer) -> None:
    """A model reused by a second synchronous run gets a client for that loop."""
    model = model_for(server)

    first = anyio.run(model.complete, ask("one"))
    second = anyio.run(model.complete, ask("two"))

    assert (first.text, second.text) == ("echo: one", "echo: two")


@pytest.mark.anyio
async def test_retries_lose_no_call_against_a_flaky_server(server: ChatServer) -> None:
    """Every fault of a server failing ~30% of requests is retried or raised.

    Over 50 calls, the requests the server counted equal the successes, plus the
    recorded retries, plus the calls that finally failed, category by category.
    """
    server.fault_rate = 0.3
    server.rng = random.Random(7)
    model = model_for(server, timeout=0.5)
    policy = RetryPolicy(attempts=5, base_delay=0.01, max_delay=0.05)
    delays: list[float] = []
    successes: list[str] = []
    failures: list[ProviderError] = []
    retries: list[dict[str, Any]] = []

    async def no_wait(seconds: float) -> None:
        delays.append(seconds)
        await anyio.lowlevel.checkpoint()

    async def one_call(index: int, limiter: anyio.CapacityLimiter) -> None:
        async with limiter:
            try:
                completion, records = await call_with_retries(
                    lambda: model.complete(ask(f"case {index}")),
                    policy,
                    sleep=no_wait,
                    rng=random.Random(index),
                )
            except ProviderError as exc:
                failures.append(exc)
                retries.extend(exc.retries)  # type: ignore[attr-defined]
            else:
                successes.append(completion.text)
                retries.extend(records)

    limiter = anyio.CapacityLimiter(10)
    async with anyio.create_task_group() as group:
        for index in range(50):
            group.start_soon(one_call, index, limiter)

    assert len(successes) + len(failures) == 50
    assert server.requests == len(successes) + len(retries) + len(failures)
    seen = Counter(r["reason"].split(":")[0] for r in retries)
    seen.update(f.category for f in failures)
    faults = {b: n for b, n in server.behaviours.items() if b != "ok"}
    assert sum(faults.values()) >= 10, "the server should have misbehaved"
    assert seen == Counter({FAULT_CATEGORIES[b]: n for b, n in faults.items()})
    assert len(delays) == len(retries)


@pytest.mark.anyio
async def test_base_url_from_environment_is_read_at_call_time(
    server: ChatServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`base_url_env` names the variable; its value is used, never described."""
    monkeypatch.setenv("EVALSPEC_TEST_ENDPOINT", server.base_url)
    model = OpenAIModel(name="local", base_url_env="EVALSPEC_TEST_ENDPOINT")

    completion = await model.complete(ask("hello"))

    assert completion.text == "echo: hello"
    assert server.base_url not in repr(model.describe())
    assert model.provider == f"openai:127.0.0.1:{server.server_port}"


@pytest.mark.anyio
async def test_base_url_from_unset_environment_is_not_retried(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """An unset endpoint variable fails the call with a clear, final error."""
    monkeypatch.delenv("EVALSPEC_TEST_ENDPOINT", raising=False)
    model = OpenAIModel(name="local", base_url_env="EVALSPEC_TEST_ENDPOINT")

    with pytest.raises(ProviderError, match="EVALSPEC_TEST_ENDPOINT") as caught:
        await model.complete(ask("hello"))

    assert caught.value.retryable is False
    assert model.provider == "openai:$EVALSPEC_TEST_ENDPOINT"
