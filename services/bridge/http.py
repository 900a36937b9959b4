"""The bridge's calls to agencies' endpoints (aiohttp): the only place it speaks HTTP out.
Each call returns the answer's status and text, or None for no answer at all; deciding
what that means is `delivery.verdict`'s."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

import aiohttp

ANSWER_KEPT = 2000  # characters of an answer kept in a dead letter or an error message


@dataclass(frozen=True)
class Answer:
    status: int | None  # None: no answer (refused, reset, timed out, TLS failed)
    text: str
    error: str | None = None  # why there was no answer

    def json(self) -> Any:
        import json

        return json.loads(self.text)


def client_session() -> aiohttp.ClientSession:
    # One connection pool per agency host is aiohttp's default; a slow agency's calls wait on
    # their own sockets. Redirects are not followed (verdict: refused).
    return aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0, limit_per_host=4),
                                 auto_decompress=True)


async def call(session: aiohttp.ClientSession, method: str, url: str, timeout_s: float,
               **kwargs: Any) -> Answer:
    try:
        async with session.request(method, url, allow_redirects=False,
                                   timeout=aiohttp.ClientTimeout(total=timeout_s), **kwargs) as answer:
            text = await answer.text(errors="replace")
            return Answer(answer.status, text)
    except asyncio.TimeoutError:
        return Answer(None, "", "timed out")
    except aiohttp.ClientError as exc:
        return Answer(None, "", type(exc).__name__)
