"""Throughput of intake and router beside a bare aiokafka consume-and-produce loop, on the
same broker in the same run. Usage: .venv/bin/python bench/throughput.py [N]

Starts the embedded broker unless LAPOR_BOOTSTRAP_SERVERS is set. Prints a table.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
import tempfile
import time
import uuid
from pathlib import Path

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from services.common import broker  # noqa: E402
from services.common.admin import create_topics  # noqa: E402
from services.common.generator import TEXTS  # noqa: E402
from services.common.settings import Settings  # noqa: E402
from services.common.topics import catalogue  # noqa: E402
from tests.workers import WorkerProcess  # noqa: E402


def submissions(n: int) -> list[tuple[bytes, bytes]]:
    out = []
    for i in range(n):
        text, region = TEXTS[i % len(TEXTS)]
        sub = {"submission_id": f"b-{i}", "channel": "web", "submitted_at": "2026-03-02T09:15:00+07:00",
               "body": text, "location": {"region_code": region} if region else None}
        out.append((sub["submission_id"].encode(), json.dumps({k: v for k, v in sub.items() if v}).encode()))  # type: ignore[union-attr]
    return out


async def produce(s: Settings, topic: str, records: list[tuple[bytes, bytes]]) -> None:
    p = AIOKafkaProducer(bootstrap_servers=s.bootstrap_servers, acks="all", linger_ms=5)
    await p.start()
    try:
        for k, v in records:
            await p.send(s.topic(topic), v, key=k)
        await p.flush()
    finally:
        await p.stop()


async def count_until(s: Settings, topic: str, n: int, timeout: float = 600) -> tuple[float, float]:
    """(first record time, time when the n-th record arrived), monotonic."""
    c = AIOKafkaConsumer(s.topic(topic), bootstrap_servers=s.bootstrap_servers,
                         auto_offset_reset="earliest", group_id=None)
    await c.start()
    got, first, end = 0, 0.0, time.monotonic() + timeout
    try:
        while got < n and time.monotonic() < end:
            for recs in (await c.getmany(timeout_ms=200)).values():
                if recs and not first:
                    first = time.monotonic()
                got += len(recs)
        return first, time.monotonic()
    finally:
        await c.stop()


async def bare_loop(s: Settings, n: int) -> float:
    """The limit for a Python service here: consume, parse JSON, produce, await each ack."""
    c = AIOKafkaConsumer(s.topic("complaints.submitted.v1"), bootstrap_servers=s.bootstrap_servers,
                         auto_offset_reset="earliest", group_id=f"bare-{uuid.uuid4().hex[:6]}")
    p = AIOKafkaProducer(bootstrap_servers=s.bootstrap_servers, acks="all")
    await c.start()
    await p.start()
    done, t0 = 0, time.monotonic()
    try:
        while done < n:
            for recs in (await c.getmany(timeout_ms=200)).values():
                for r in recs:
                    json.loads(r.value)
                    await (await p.send(s.topic("complaints.triage.v1"), r.value, key=r.key))
                    done += 1
        return n / (time.monotonic() - t0)
    finally:
        await c.stop()
        await p.stop()


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 3000
    base = Settings(partitions=2, web_enabled=False, data_dir=Path(tempfile.mkdtemp()))
    started = None
    if "LAPOR_BOOTSTRAP_SERVERS" not in os.environ:
        state = Path(tempfile.mkdtemp())
        started = base.model_copy(update={"broker_dir": state})
        base = base.model_copy(update={"bootstrap_servers": broker.start(started, port=broker.free_port())})
    s = base.model_copy(update={"topic_prefix": f"bench{uuid.uuid4().hex[:6]}."})
    logs = Path(tempfile.mkdtemp())
    try:
        asyncio.run(create_topics(s, catalogue(s)))
        asyncio.run(produce(s, "complaints.submitted.v1", submissions(n)))
        bare = asyncio.run(bare_loop(s, n))
        rows = [("bare aiokafka loop (consume, parse, produce+ack)", bare)]
        for service, topic in (("intake", "complaints.accepted.v1"), ("router", "complaints.routed.v1")):
            worker = WorkerProcess(service, s, logs / f"{service}.log")
            try:
                first, last = asyncio.run(count_until(s, topic, n))
            finally:
                worker.stop()
            rows.append((f"{service} worker (first to last output)", n / max(last - first, 1e-9)))
        print(f"\n{n} complaints, 2 partitions, one worker per stage, broker on 127.0.0.1")
        print(f"{'stage':52} {'events/s':>10} {'vs bare':>8}")
        for name, rate in rows:
            print(f"{name:52} {rate:10.0f} {rate / bare:8.2f}")
    finally:
        if started is not None:
            broker.stop(started)


if __name__ == "__main__":
    main()
