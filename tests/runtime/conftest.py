"""Fixtures for the runtime tests: a misbehaving chat-completions server."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest
from chat_server import ChatServer


@pytest.fixture
def server() -> Iterator[ChatServer]:
    chat = ChatServer()
    thread = threading.Thread(target=chat.serve_forever, args=(0.01,), daemon=True)
    thread.start()
    yield chat
    chat.released.set()
    chat.shutdown()
    chat.server_close()
    thread.join()
