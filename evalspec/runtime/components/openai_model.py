"""The `openai` model: any endpoint that speaks OpenAI's chat-completions protocol.

OpenAI itself, and local servers such as vLLM, llama.cpp or Ollama. Calls go
through the official `openai` client with its own retries turned off: the
runtime retries (see `evalspec.runtime.retry`), and every failure leaves this
module as a `ProviderError` whose `category` says what went wrong.

The API key is the value of an environment variable whose *name* is a
parameter. The value is read at each call and is kept out of the parameters,
`describe()`, `repr()`, log lines and error messages; an error body that
echoes the key has it masked.
"""

from __future__ import annotations

import logging
import math
import os
import time
from collections.abc import Mapping
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any, ClassVar
from urllib.parse import urlsplit

import anyio
import anyio.lowlevel
import openai
from openai.types.chat import ChatCompletion
from pydantic import Field, field_validator

from evalspec.errors import ProviderError
from evalspec.runtime.components.base import Completion, Model, Params, Request
from evalspec.runtime.registry import register

__all__ = ["DEFAULT_BASE_URL", "OpenAIModel", "OpenAIParams", "parse_retry_after"]

logger = logging.getLogger(__name__)

DEFAULT_BASE_URL = "https://api.openai.com/v1"

# Parameters that say how to reach the endpoint rather than what it is asked;
# they stay out of describe() so that changing them never changes a run_id.
_OPERATIONAL = frozenset({"api_key_env", "timeout", "delay"})

# Local servers ignore the key, but the client insists on having one.
_PLACEHOLDER_KEY = "EMPTY"

_BODY_LIMIT = 200


class OpenAIParams(Params):
    """Parameters of the `openai` model."""

    name: str = Field(description="The model name the endpoint serves.")
    base_url: str | None = Field(
        None, description="The endpoint, up to `/v1`; OpenAI's own when unset."
    )
    base_url_env: str | None = Field(
        None,
        description=(
            "Name of the environment variable holding the endpoint, read at run"
            ' time; `base_url env("NAME")` in a spec sets it.'
        ),
    )
    api_key_env: str | None = Field(
        None,
        description=(
            "Name of the environment variable holding the API key; when unset,"
            " OPENAI_API_KEY if set, else a placeholder local servers accept."
        ),
    )
    temperature: float | None = Field(None, ge=0.0, description="Sampling temperature.")
    max_tokens: int | None = Field(None, ge=1, description="Cap on completion tokens.")
    top_p: float | None = Field(None, ge=0.0, le=1.0, description="Nucleus sampling.")
    stop: list[str] | None = Field(None, description="Texts that end a completion.")
    seed: int | None = Field(
        None,
        description=(
            "Sampling seed; sample i of a case is sent seed + i, so samples differ"
            " from each other yet repeat across runs on servers that honour seeds."
        ),
    )
    headers: dict[str, str] = Field(
        {}, description="Extra HTTP headers sent with each request."
    )
    timeout: float = Field(
        60.0, gt=0.0, description="Seconds to wait for a whole response."
    )
    delay: float = Field(
        0.0, ge=0.0, description="Seconds to wait before each request."
    )

    @field_validator("base_url")
    @classmethod
    def _check_base_url(cls, value: str | None) -> str | None:
        if value is None:
            return value
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            msg = f"base_url must be an http(s) URL with a host, got {value!r}"
            raise ValueError(msg)
        # Reading the port raises ValueError when it is not a number.
        parts.port  # noqa: B018

        return value


@register
class OpenAIModel(Model):
    """Chat completions from an OpenAI-compatible endpoint.

    Each request sends the rendered messages as chat turns, with the sampling
    parameters that are set. The completion carries the text of the first
    choice, its finish reason, token usage when the server reports it, the
    call's latency, and the model name the server answered with.

    The API key is read at each call from the environment variable that
    `api_key_env` names; the runtime, not the client, retries failed calls.

    Usage::

        model grader { use openai  name "gpt-4o-mini"  api_key_env "OPENAI_API_KEY" }
        model local  { use openai  name "qwen"  base_url "http://localhost:8000/v1" }
    """

    id: ClassVar[str] = "openai"
    operational: ClassVar[frozenset[str]] = _OPERATIONAL
    version: ClassVar[str] = "1"
    Params = OpenAIParams
    params: OpenAIParams

    def __init__(self, **params: Any) -> None:
        super().__init__(**params)
        self._client: openai.AsyncOpenAI | None = None
        self._client_loop: anyio.lowlevel.EventLoopToken | None = None

    @property
    def provider(self) -> str:
        """Return ``openai:`` and the endpoint's host (and port, when given)."""
        try:
            parts = urlsplit(self.endpoint)
        except ProviderError:
            # The call itself reports the bad variable; limits need a name now.
            return f"openai:${self.params.base_url_env}"
        host = parts.hostname or ""
        if ":" in host:
            host = f"[{host}]"
        port = f":{parts.port}" if parts.port else ""

        return f"openai:{host}{port}"

    @property
    def endpoint(self) -> str:
        """Return the base URL: `base_url`, the `base_url_env` variable, or OpenAI's.

        An unset or invalid variable raises ProviderError (not retryable).
        """
        name = self.params.base_url_env
        if name is None:
            return self.params.base_url or DEFAULT_BASE_URL
        value = os.environ.get(name, "")
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            shown = repr(value) if value else "unset"
            msg = f"environment variable {name} (the endpoint) is {shown}"
            raise ProviderError(msg, category="client", retryable=False)

        return value

    async def complete(self, request: Request) -> Completion:
        """Return the endpoint's completion of `request`'s messages."""
        if self.params.delay:
            await anyio.sleep(self.params.delay)
        client = self._connect()

        started = time.perf_counter()
        try:
            response = await client.chat.completions.create(**self._arguments(request))
        except (openai.APIError, ValueError) as exc:
            # ValueError is how the client reports a body that is not JSON.
            raise self._error(exc) from None
        latency = time.perf_counter() - started

        completion = self._read(response, latency)
        logger.debug(
            "%s answered in %.3f s: %s", self.provider, latency, completion.usage
        )

        return completion

    async def aclose(self) -> None:
        """Close the HTTP connections of this model's client, if it made one."""
        if self._client is not None:
            await self._client.close()
            self._client = None

    def _connect(self) -> openai.AsyncOpenAI:
        # A client's connection pool belongs to the event loop it was made in,
        # so a model used again under a new loop (a second synchronous run)
        # gets a fresh client.
        loop = anyio.lowlevel.current_token()
        if self._client is None or self._client_loop != loop:
            self._client = openai.AsyncOpenAI(
                base_url=self.endpoint,
                api_key=self._api_key,
                timeout=self.params.timeout,
                max_retries=0,
                default_headers=self.params.headers or None,
            )
            self._client_loop = loop

        return self._client

    async def _api_key(self) -> str:
        name = self.params.api_key_env
        if name is None:
            return os.environ.get("OPENAI_API_KEY") or _PLACEHOLDER_KEY
        key = os.environ.get(name)
        if not key:
            msg = f"{self.provider}: environment variable {name} (the API key) is unset"
            raise ProviderError(msg, category="auth", retryable=False)

        return key

    def _arguments(self, request: Request) -> dict[str, Any]:
        p = self.params
        arguments: dict[str, Any] = {
            "model": p.name,
            "messages": [
                {"role": m.role, "content": m.content} for m in request.messages
            ],
            "temperature": p.temperature,
            "max_tokens": p.max_tokens,
            "top_p": p.top_p,
            "stop": p.stop,
            "seed": None if p.seed is None else p.seed + request.sample,
        }

        return {key: value for key, value in arguments.items() if value is not None}

    def _read(self, response: object, latency: float) -> Completion:
        # The client builds its response objects without validating them, so
        # every field is checked here rather than trusted.
        if not isinstance(response, ChatCompletion):
            raise self._malformed(f"expected a chat completion, got {response!r}")
        try:
            choice = response.choices[0]
            text = choice.message.content
            reason = choice.finish_reason
        except (AttributeError, IndexError, KeyError, TypeError):
            raise self._malformed("the response has no choices") from None
        if not isinstance(text, str | None) or not isinstance(reason, str | None):
            raise self._malformed("the first choice has no text message")

        return Completion(
            text=text or "",
            finish_reason=reason,
            usage=_usage(response.usage),
            latency=latency,
            model=response.model if isinstance(response.model, str) else None,
        )

    def _malformed(self, detail: str) -> ProviderError:
        msg = f"{self.provider} sent a malformed response: {self._redact(detail)}"

        return ProviderError(msg, category="malformed", retryable=True)

    def _error(self, exc: Exception) -> ProviderError:
        where = self.provider
        if isinstance(exc, openai.APITimeoutError):
            msg = f"{where} did not answer within {self.params.timeout:g} s"
            return ProviderError(msg, category="timeout", retryable=True)
        if isinstance(exc, openai.APIConnectionError):
            cause = exc.__cause__ or exc
            msg = f"{where}: connection failed ({self._redact(str(cause))})"
            return ProviderError(msg, category="connection", retryable=True)
        if isinstance(exc, openai.APIStatusError):
            return self._status_error(exc)

        return self._malformed(str(exc))

    def _status_error(self, exc: openai.APIStatusError) -> ProviderError:
        status = exc.status_code
        category, retryable = _status_category(status)
        retry_after = parse_retry_after(exc.response.headers) if retryable else None
        detail = self._redact(_body_message(exc.body) or exc.message)
        msg = f"{self.provider} answered HTTP {status}: {detail}"

        return ProviderError(
            msg,
            category=category,
            retryable=retryable,
            retry_after=retry_after,
            status=status,
        )

    def _redact(self, text: str) -> str:
        """Return `text` cut to a readable length, with the API key masked."""
        name = self.params.api_key_env or "OPENAI_API_KEY"
        key = os.environ.get(name)
        if key and key != _PLACEHOLDER_KEY:
            text = text.replace(key, "***")

        return text if len(text) <= _BODY_LIMIT else text[:_BODY_LIMIT] + "…"


def _status_category(status: int) -> tuple[str, bool]:
    if status == 429:
        return "rate_limit", True
    if status == 408:
        return "timeout", True
    if status >= 500:
        return "server", True
    if status in (401, 403):
        return "auth", False

    return "client", False


def _body_message(body: object) -> str | None:
    if isinstance(body, Mapping):
        message = body.get("message")
        return message if isinstance(message, str) else None

    return body if isinstance(body, str) else None


def _usage(usage: object) -> dict[str, int] | None:
    counts = {
        key: getattr(usage, key, None)
        for key in ("prompt_tokens", "completion_tokens", "total_tokens")
    }
    kept = {key: value for key, value in counts.items() if isinstance(value, int)}

    return kept or None


def parse_retry_after(
    headers: Mapping[str, str], now: datetime | None = None
) -> float | None:
    """Return the seconds a response's retry headers ask to wait, or None.

    Read ``retry-after-ms`` (OpenAI's, in milliseconds) first, then
    ``Retry-After`` as seconds or as an HTTP date; a date in the past means 0.
    Header names are matched as given, so pass a case-insensitive mapping such
    as the client's response headers, or lowercase names.
    """
    milliseconds = headers.get("retry-after-ms")
    if milliseconds is not None:
        seconds = _seconds(milliseconds)
        if seconds is not None:
            return seconds / 1000
    value = headers.get("retry-after")
    if value is None:
        return None
    seconds = _seconds(value)
    if seconds is not None:
        return seconds
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    now = now or datetime.now(UTC)

    return max(0.0, (when - now).total_seconds())


def _seconds(value: str) -> float | None:
    try:
        seconds = float(value)
    except ValueError:
        return None
    if not math.isfinite(seconds) or seconds < 0:
        return None

    return seconds
