"""Operator commands: submit, status, tail, replay (thin wrappers over aiokafka)."""

from __future__ import annotations

import json
import sys
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from schemas import Status, StatusEvent, Submission
from services.runtime.topics import ADMIN_STATUS, agency_status_topic_name, reporter_status_topic_name
from services.runtime.settings import Settings
from services.runtime.kafka_client import aiokafka_options


async def _send(settings: Settings, topic: str, key: str | None, value: bytes) -> None:
    producer = AIOKafkaProducer(**aiokafka_options(settings), acks="all")
    await producer.start()
    try:
        await producer.send_and_wait(settings.topic(topic), value, key=key.encode() if key else None)
    finally:
        await producer.stop()


async def submit(settings: Settings, data: dict[str, Any]) -> Submission:
    data.setdefault("submission_id", f"cli-{uuid.uuid4().hex[:12]}")
    data.setdefault("channel", "other")
    data.setdefault("submitted_at", datetime.now(UTC).astimezone().isoformat())
    sub = Submission.model_validate(data)  # refused here, with the reason, before it is sent
    await _send(settings, Submission.topic_name, sub.submission_id, sub.to_bytes())
    return sub


async def status(settings: Settings, data: dict[str, Any],
                 channel: str | None = None) -> tuple[StatusEvent, str]:
    """An agency's status goes to its own status topic, a reporter's (`channel`) to that
    channel's reporter status topic; an `assigned` is the national admin's and goes to
    admin-status.v1 (the status gate passes each on as a claim for the router to judge).
    Returns the event and the topic it
    was written to."""
    data.setdefault("event_id", f"cli-{uuid.uuid4().hex}")
    data.setdefault("at", datetime.now(UTC).astimezone().isoformat())
    event = StatusEvent.model_validate(data)
    if channel is not None:
        topic = reporter_status_topic_name(channel)
    elif event.status is Status.assigned:
        if event.agency_id is not None or event.target_agency_id is None:
            # what the status gate would dead-letter (not_an_assignment): said here instead
            raise ValueError("an assignment is the national admin's: --target AGENCY, no --agency")
        topic = ADMIN_STATUS
    elif event.agency_id is None:
        raise ValueError("an agency's status needs --agency (the agency sending it), a "
                         "reporter's --channel (the channel carrying it)")
    else:
        topic = agency_status_topic_name(event.agency_id)
    await _send(settings, topic, event.complaint_id, event.to_bytes())
    return event, topic


async def tail(settings: Settings, topic: str, follow: bool, limit: int | None) -> int:
    """Print a topic from the beginning, one JSON object a line with its key and offset."""
    consumer = AIOKafkaConsumer(settings.topic(topic), **aiokafka_options(settings),
                                auto_offset_reset="earliest", group_id=None)
    shown, idle_since = 0, time.monotonic()
    try:
        await consumer.start()
        while limit is None or shown < limit:
            batch = await consumer.getmany(timeout_ms=500)
            if not batch and not follow and time.monotonic() - idle_since > 2:
                break
            for records in batch.values():
                idle_since = time.monotonic()
                for r in records:
                    if limit is not None and shown >= limit:
                        return shown
                    key = r.key.decode(errors="replace") if r.key else None
                    value = r.value.decode(errors="replace") if r.value else None
                    print(json.dumps({"partition": r.partition, "offset": r.offset, "key": key,
                                      "value": _as_json(value)}, ensure_ascii=False), flush=True)
                    shown += 1
        return shown
    finally:
        await consumer.stop()


def _as_json(value: str | None) -> Any:
    try:
        return json.loads(value) if value is not None else None
    except json.JSONDecodeError:
        return value


async def replay(settings: Settings, path: Path) -> int:
    """Publish a JSONL log in order: each line {"topic", "key"?, "value"}; progress on stderr."""
    lines = path.read_text(encoding="utf-8").splitlines()
    producer = AIOKafkaProducer(**aiokafka_options(settings), acks="all")
    await producer.start()
    sent = 0
    try:
        for number, line in enumerate(lines, 1):
            if not line.strip():
                continue
            try:
                item = json.loads(line)
                topic, value = item["topic"], json.dumps(item["value"]).encode()
            except (json.JSONDecodeError, KeyError, TypeError) as exc:
                raise ValueError(f"{path}:{number}: expected {{topic, key?, value}}: {exc}") from None
            key = item.get("key")
            await producer.send_and_wait(settings.topic(topic), value, key=key.encode() if key else None)
            sent += 1
            if sent % 100 == 0 or number == len(lines):
                print(f"\r{sent}/{len(lines)} records", end="", file=sys.stderr, flush=True)
        print(file=sys.stderr)
        return sent
    finally:
        await producer.stop()
