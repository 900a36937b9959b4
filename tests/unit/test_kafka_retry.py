"""A retriable Kafka error in the middle of a batch (a broker node restarting while a worker
creates an agency's topic) is ridden out, not turned into a stopped worker; anything else
is raised at once (services/runtime/admin.py `retry_retriable`)."""

from __future__ import annotations

from typing import Any

import pytest
from aiokafka.errors import NodeNotReadyError, TopicAuthorizationFailedError

from services.runtime.admin import retry_retriable


class Log:
    def __init__(self) -> None:
        self.lines: list[tuple[str, dict[str, Any]]] = []

    def warning(self, event: str, **fields: Any) -> None:
        self.lines.append((event, fields))


def failing(times: int, error: Exception) -> Any:
    calls = {"n": 0}

    async def call() -> str:
        calls["n"] += 1
        if calls["n"] <= times:
            raise error
        return "created"
    return call, calls


async def test_a_retriable_error_is_tried_again_until_it_passes() -> None:
    call, calls = failing(2, NodeNotReadyError("node 2"))
    log = Log()
    assert await retry_retriable(call, log, "create_agency_topics") == "created"
    assert calls["n"] == 3
    assert [(e, f["error"]) for e, f in log.lines] == [("kafka_retry", "NodeNotReadyError")] * 2


async def test_another_error_is_raised_at_once() -> None:
    call, calls = failing(1, TopicAuthorizationFailedError())
    with pytest.raises(TopicAuthorizationFailedError):
        await retry_retriable(call, Log(), "create_agency_topics")
    assert calls["n"] == 1


async def test_a_retriable_error_past_the_bound_is_raised() -> None:
    call, calls = failing(1000, NodeNotReadyError("node 2"))
    with pytest.raises(NodeNotReadyError):
        await retry_retriable(call, Log(), "create_agency_topics", for_s=0.5)
    assert 2 <= calls["n"] < 10
