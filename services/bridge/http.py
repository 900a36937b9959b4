"""The bridge's calls to agencies' endpoints (aiohttp): the only place it speaks HTTP out.
Each call returns the answer's status and text, or None for no answer at all; deciding
what that means is `delivery.verdict`'s."""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass
from typing import Any

import aiohttp

from services.bridge.delivery import Verdict, verdict

ANSWER_KEPT = 2000  # characters of an answer kept in a dead letter or an error message
ANSWER_MAX = 1024 * 1024  # bytes of an answer read, counted after decompression
READ_CHUNK = 64 * 1024


@dataclass(frozen=True)
class Answer:
    status: int | None  # None: no answer (refused, reset, timed out, TLS failed)
    text: str
    error: str | None = None  # why there was no answer
    too_large: bool = False  # the answer went past ANSWER_MAX: `text` is its first bytes

    def verdict(self) -> Verdict:
        """What the answer means; one too large to read is a refusal, whatever its status
        (an endpoint that answers that is broken or hostile, and a retry would read it again)."""
        return Verdict.refused if self.too_large else verdict(self.status)

    def json(self) -> Any:
        if self.too_large:
            raise ValueError(f"answer larger than {ANSWER_MAX} bytes")
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
            body, too_large = await _read_bounded(answer)
            try:
                text = body.decode(answer.charset or "utf-8", errors="replace")
            except LookupError:  # a charset no codec knows (a broken or hostile server)
                text = body.decode("utf-8", errors="replace")
            if too_large:
                return Answer(answer.status, text[:ANSWER_KEPT], f"answer larger than {ANSWER_MAX} bytes",
                              too_large=True)
            return Answer(answer.status, text)
    except asyncio.TimeoutError:
        return Answer(None, "", "timed out")
    except aiohttp.ClientError as exc:
        return Answer(None, "", type(exc).__name__)


async def _read_bounded(answer: aiohttp.ClientResponse) -> tuple[bytes, bool]:
    """At most ANSWER_MAX bytes of the body as decompressed (aiohttp inflates as it is read,
    so a small gzip body that inflates to 100 MiB stops here at 1 MiB); True if there was
    more."""
    body = bytearray()
    async for chunk in answer.content.iter_chunked(READ_CHUNK):
        body += chunk
        if len(body) > ANSWER_MAX:
            return bytes(body[:ANSWER_MAX]), True
    return bytes(body), False
