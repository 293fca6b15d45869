"""Fixtures for the chat example tests."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from chat_harness import ChatServer, start_chat_app


@pytest.fixture
def chat_server(tmp_path: Path) -> Iterator[ChatServer]:
    yield from start_chat_app(tmp_path)


@pytest.fixture
def small_history_chat_server(tmp_path: Path) -> Iterator[ChatServer]:
    yield from start_chat_app(tmp_path, "--history", "3")
