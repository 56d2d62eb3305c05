"""A chat-completions server on 127.0.0.1 that misbehaves on request.

`ChatServer` speaks the protocol over HTTP from a thread and fails by a
schedule of named behaviours, then at a seeded rate. It counts every request
it receives, so that tests can check that no call is lost.
"""

from __future__ import annotations

import json
import random
import threading
from collections import Counter, deque
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

__all__ = ["FAULT_CATEGORIES", "ChatServer"]

# The faults a seeded server draws from, and the category each must map to.
FAULT_CATEGORIES = {
    "rate_limit": "rate_limit",
    "server": "server",
    "slow": "timeout",
    "malformed": "malformed",
    "drop": "connection",
}


class ChatServer(ThreadingHTTPServer):
    """A chat-completions endpoint that can be told to fail in chosen ways."""

    daemon_threads = True
    # A deep backlog keeps a burst of concurrent connections from being
    # dropped by the kernel, which would hide requests from the count.
    request_queue_size = 128

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.schedule: deque[str] = deque()
        self.fault_rate = 0.0
        self.rng = random.Random(0)
        self.slow_seconds = 2.0
        self.requests = 0
        self.behaviours: Counter[str] = Counter()
        self.authorizations: list[str | None] = []
        self.bodies: list[dict[str, Any]] = []
        self.headers_seen: list[dict[str, str]] = []
        self.released = threading.Event()
        self._lock = threading.Lock()

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.server_port}/v1"

    def next_behaviour(self) -> str:
        """Return what to do with the next request, and count the request."""
        with self._lock:
            self.requests += 1
            if self.schedule:
                behaviour = self.schedule.popleft()
            elif self.rng.random() < self.fault_rate:
                behaviour = self.rng.choice(sorted(FAULT_CATEGORIES))
            else:
                behaviour = "ok"
            self.behaviours[behaviour] += 1

        return behaviour


class _Handler(BaseHTTPRequestHandler):
    server: ChatServer

    def log_message(self, format: str, *args: Any) -> None:
        """Keep the test output quiet."""

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length", 0))
        body = json.loads(self.rfile.read(length))
        self.server.bodies.append(body)
        self.server.authorizations.append(self.headers.get("Authorization"))
        self.server.headers_seen.append({k.lower(): v for k, v in self.headers.items()})
        behaviour = self.server.next_behaviour()
        if self.path != "/v1/chat/completions":
            self._send(404, {"error": {"message": f"no route {self.path}"}})
        elif behaviour == "drop":
            # Closing without a word is what a crashed upstream looks like.
            self.close_connection = True
        else:
            getattr(self, f"_{behaviour}")(body)

    def _ok(self, body: dict[str, Any]) -> None:
        prompt = body["messages"][-1]["content"]
        text = f"echo: {prompt}"
        usage = {"prompt_tokens": len(prompt.split()), "completion_tokens": 2}
        usage["total_tokens"] = sum(usage.values())
        completion = {
            "id": "chatcmpl-1",
            "object": "chat.completion",
            "created": 1_700_000_000,
            "model": body["model"],
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": text},
                    "finish_reason": "stop",
                }
            ],
            "usage": usage,
        }
        self._send(200, completion)

    def _rate_limit(self, body: dict[str, Any]) -> None:
        error = {"error": {"message": "rate limit reached", "type": "requests"}}
        self._send(429, error, {"Retry-After": "0"})

    def _rate_limit_date(self, body: dict[str, Any]) -> None:
        when = datetime.now(UTC) + timedelta(seconds=30)
        error = {"error": {"message": "come back later"}}
        self._send(429, error, {"Retry-After": format_datetime(when, usegmt=True)})

    def _unavailable(self, body: dict[str, Any]) -> None:
        self._send(503, {"error": {"message": "overloaded"}}, {"Retry-After": "2"})

    def _server(self, body: dict[str, Any]) -> None:
        self._send(500, {"error": {"message": "internal error"}})

    def _unauthorized(self, body: dict[str, Any]) -> None:
        # Some servers echo the key they rejected; it must not reach errors.
        presented = self.headers.get("Authorization", "")
        self._send(401, {"error": {"message": f"bad key {presented}"}})

    def _forbidden(self, body: dict[str, Any]) -> None:
        self._send(403, {"error": {"message": "not allowed"}})

    def _bad_request(self, body: dict[str, Any]) -> None:
        self._send(400, {"error": {"message": "unknown parameter"}})

    def _slow(self, body: dict[str, Any]) -> None:
        self.server.released.wait(self.server.slow_seconds)
        self._ok(body)

    def _malformed(self, body: dict[str, Any]) -> None:
        self._send_bytes(200, b'{"id": "chatcmpl-1", "choices": [')

    def _no_choices(self, body: dict[str, Any]) -> None:
        self._send(
            200, {"id": "chatcmpl-1", "object": "chat.completion", "choices": []}
        )

    def _plain_text(self, body: dict[str, Any]) -> None:
        self._send_bytes(200, b"hello", content_type="text/plain")

    def _send(
        self, status: int, payload: object, headers: dict[str, str] | None = None
    ) -> None:
        self._send_bytes(status, json.dumps(payload).encode(), headers=headers)

    def _send_bytes(
        self,
        status: int,
        data: bytes,
        headers: dict[str, str] | None = None,
        content_type: str = "application/json",
    ) -> None:
        try:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(data)))
            for name, value in (headers or {}).items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(data)
        except OSError:
            # The client gave up first (a timeout test); nobody is listening.
            pass
