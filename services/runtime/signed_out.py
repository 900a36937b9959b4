"""Sign-outs shared by every worker of a staff site: a session signed out on one worker is
refused by all of them, and by one started later. Each worker writes its sign-outs on
staff.signed-out.v1 and follows the topic from its beginning (no consumer group, like the
desk's view); the StaffSignIn keeps what it read. Entries end with the session they revoke."""

from __future__ import annotations

import asyncio
import hashlib
from datetime import UTC, datetime
from typing import Any, Literal

from aiokafka import AIOKafkaProducer
from pydantic import ValidationError

from schemas.staff import StaffSignOut
from services.runtime.kafka_client import aiokafka_options
from services.runtime.logging import get_logger
from services.runtime.settings import Settings
from services.runtime.topic_follow import follow, follow_pattern
from services.runtime.topic_read import TopicRecord
from services.runtime.topics import STAFF_SIGNED_OUT

Site = Literal["desk", "ops"]


def session_digest(session_id: str) -> str:
    """What is written and kept of a session id (the id itself opens nothing, but stays put)."""
    return hashlib.sha256(session_id.encode()).hexdigest()


class SharedSignOuts:
    """The link between one StaffSignIn and the topic: `publish` is its `announce`,
    `run` feeds every sign-out read (this worker's own too) to its `revoke`."""

    def __init__(self, settings: Settings, site: Site, revoke: Any):
        self.settings, self.site, self.revoke = settings, site, revoke
        self.producer: AIOKafkaProducer | None = None

    async def start(self) -> None:
        self.producer = AIOKafkaProducer(**aiokafka_options(self.settings), acks="all")
        await self.producer.start()

    async def stop(self) -> None:
        if self.producer is not None:
            await self.producer.stop()

    async def publish(self, digest: str, until: float) -> None:
        assert self.producer is not None
        entry = StaffSignOut(site=self.site, session_digest=digest,
                             until=datetime.fromtimestamp(until, UTC))
        await self.producer.send_and_wait(self.settings.topic(STAFF_SIGNED_OUT), entry.to_bytes(),
                                          key=f"{self.site}|{digest}".encode())

    def apply(self, record: TopicRecord) -> None:
        if record.value is None:
            return
        try:
            entry = StaffSignOut.model_validate_json(record.value)
        except ValidationError:
            get_logger().warning("record_skipped", reason="not_a_sign_out", topic=record.topic,
                                 partition=record.partition, offset=record.offset)
            return
        if entry.site == self.site:
            self.revoke(entry.session_digest, entry.until.timestamp())

    async def run(self, stopping: asyncio.Event) -> None:
        await follow(self.settings, follow_pattern(self.settings, (STAFF_SIGNED_OUT,), ()),
                     self.apply, stopping)
